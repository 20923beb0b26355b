"""The local judge panel: its data (negatives, the split by conversation), its AUC formula, training end to end on a
small corpus, the shipped panel on real held-out ReDial dialogues, and its votes reaching routing on both backends."""
from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from augment.panel import JUDGES, PANEL_DIR, JudgePanel, embed_views
from augment.panel_data import NEGATIVE_TYPES, make_examples, negative, split_of, without_title
from augment.panel_train import auc, split_masks, train_panel
from db.types import MovieInfo, Turn

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
MOVIES = [MovieInfo(id=i, external_id=str(i), title=f"{name} ({1990 + i})", genres=("drama",))
          for i, name in enumerate(["Heat", "Alien", "Clue", "Big", "Jaws", "Up", "Coco", "Rocky", "Fargo", "Tron"], 1)]


def dialogue(movie: MovieInfo, i: int) -> tuple[Turn, ...]:
    return (Turn(role="seeker", text=f"Hi! I want a movie for a quiet night number {i}."),
            Turn(role="recommender", text="What kind of movies do you usually like?"),
            Turn(role="seeker", text="Something tense with good actors."),
            Turn(role="recommender", text=f"Have you seen {movie.title}? It is great."),
            Turn(role="seeker", text="No, what is it about?"),
            Turn(role="recommender", text=f"{movie.title.rsplit(' (', 1)[0]} keeps you guessing to the end."),
            Turn(role="seeker", text="Thanks, bye!"))


def test_auc_is_the_share_of_real_negative_pairs_ranked_right_ties_half() -> None:
    assert auc(np.array([1, 1, 0, 0]), np.array([0.9, 0.4, 0.5, 0.1])) == pytest.approx(0.75)
    assert auc(np.array([1, 0, 0]), np.array([0.5, 0.5, 0.2])) == pytest.approx(0.75)  # one tie: half a pair
    assert auc(np.array([0, 1]), np.array([0.9, 0.1])) == 0.0
    assert np.isnan(auc(np.array([1, 1]), np.array([0.2, 0.3])))
    rng = np.random.default_rng(0)
    labels, scores = rng.integers(0, 2, 300), rng.random(300)
    pairs = [(s_p > s_n) + 0.5 * (s_p == s_n) for s_p in scores[labels == 1] for s_n in scores[labels == 0]]
    assert auc(labels, scores) == pytest.approx(np.mean(pairs))


def test_every_negative_type_breaks_what_its_name_says() -> None:
    rng = random.Random(0)
    target = MOVIES[0]
    turns = dialogue(target, 0)
    foreign = (Turn(role="recommender", text="Totally unrelated: try the soup."),)
    made = {kind: negative(kind, turns, target, rng, same_tier=MOVIES, other_turns=foreign) for kind in NEGATIVE_TYPES}
    swapped_turns, swapped_target = made["target_swap"]
    assert swapped_turns == turns and swapped_target.id != target.id
    assert not any("Heat" in t.text for t in made["unnamed"][0]) and len(made["unnamed"][0]) == len(turns)
    assert sorted(t.text for t in made["shuffled"][0]) == sorted(t.text for t in turns) and made["shuffled"][0] != turns
    assert [t.role for t in made["roles_swapped"][0]] == [
        "recommender" if t.role == "seeker" else "seeker" for t in turns]
    spliced = made["spliced"][0]
    assert sum(a.text != b.text for a, b in zip(spliced, turns, strict=True)) == 1
    assert "Totally unrelated: try the soup." in [t.text for t in spliced]
    repeated = Counter(t.text for t in made["repetition"][0])
    assert max(repeated.values()) == 3 and len(made["repetition"][0]) == len(turns) + 2
    assert made["template"][1] == target and made["template"][0] != turns and len(made["template"][0]) == 5
    assert all(kind_target == target for kind, (_, kind_target) in made.items() if kind != "target_swap")
    assert without_title([Turn(role="seeker", text="I loved HEAT (1995) and heat")], "Heat (1995)")[0].text == \
        "I loved that movie and that movie"
    examples = make_examples([(f"toy:{i}", dialogue(MOVIES[i % 10], i), MOVIES[i % 10]) for i in range(35)],
                             {m.id: "tail" for m in MOVIES}, {m.id: m for m in MOVIES})
    counts = Counter(e.kind for e in examples)
    assert counts["real"] == 35 and set(counts) == {"real", *NEGATIVE_TYPES}
    assert set(counts[k] for k in NEGATIVE_TYPES) == {10}  # every type as often


def test_the_split_is_by_conversation_stable_and_seventy_ten_twenty() -> None:
    keys = [f"redial:{i}" for i in range(20_000)]
    shares = Counter(split_of(k) for k in keys)
    assert abs(shares["train"] / 20_000 - 0.7) < 0.02 and abs(shares["heldout"] / 20_000 - 0.2) < 0.02
    assert [split_of(k) for k in keys[:50]] == [split_of(k) for k in keys[:50]]
    examples = make_examples([(f"toy:{i}", dialogue(MOVIES[i % 10], i), MOVIES[i % 10]) for i in range(200)],
                             {m.id: "tail" for m in MOVIES}, {m.id: m for m in MOVIES})
    train, valid, held = split_masks(examples)
    by_split = [{e.conversation for e, keep in zip(examples, mask, strict=True) if keep} for mask in (train, valid, held)]
    assert not (by_split[0] & by_split[1]) and not (by_split[0] & by_split[2]) and not (by_split[1] & by_split[2])
    assert all(split_of(e.conversation) == "train" for e, keep in zip(examples, train, strict=True) if keep)
    assert train.sum() + valid.sum() + held.sum() == len(examples)


def test_training_on_a_small_corpus_writes_a_panel_that_loads_votes_and_states_its_provenance(tmp_path: Path) -> None:
    examples = make_examples([(f"toy:{i}", dialogue(MOVIES[i % 10], i), MOVIES[i % 10]) for i in range(60)],
                             {m.id: "tail" for m in MOVIES}, {m.id: m for m in MOVIES})
    meta = train_panel(examples, seed=3, out=tmp_path, command="test", progress=False)
    assert [j["name"] for j in meta["judges"]] == list(JUDGES)
    assert meta["seed"] == 3 and len(meta["data_sha256"]) == 64 and meta["command"] == "test"
    assert sum(meta["examples"].values()) == len(examples)
    panel = JudgePanel.load(tmp_path)
    _, valid, _ = split_masks(examples)  # each threshold lets 90% of the real validation dialogues pass
    real = [e for e, keep in zip(examples, valid, strict=True) if keep and e.label == 1]
    real_views = embed_views([(e.turns, e.target.title) for e in real])
    for judge in panel.judges:
        p = judge.probability(np.stack([v.features(judge.groups) for v in real_views]))
        assert judge.threshold == pytest.approx(float(np.quantile(p, 0.1)), abs=1e-4)
    (votes,) = panel.vote_many([(dialogue(MOVIES[2], 999), MOVIES[2].title)])
    assert [v.judge for v in votes] == list(JUDGES) and all(0 <= v.probability <= 1 for v in votes)
    assert all(1 <= v.score <= 5 and "held-out AUC" in v.rationale for v in votes)
    with pytest.raises(FileNotFoundError, match="no trained judge panel"):
        JudgePanel.load(tmp_path / "missing")


def redial_held_out(n: int) -> list[tuple[tuple[Turn, ...], str, list[str]]]:
    """The first `n` held-out conversations of the staged ReDial train file whose recommender names a movie:
    (readable turns, the first movie the recommender names, every title of the conversation)."""
    path = SHARED / "redial" / "train_partial_raw.jsonl.gz"
    out = []
    with gzip.open(path, "rt") as lines:
        for line in lines:
            record = json.loads(line)
            if split_of(f"redial:{record['conversationId']}") != "heldout":
                continue
            titles = {k: " ".join(str(v).split()) for k, v in (record.get("movieMentions") or {}).items() if v}
            turns, target = [], None
            for message in record["messages"]:
                role = "seeker" if message["senderWorkerId"] == record["initiatorWorkerId"] else "recommender"
                text = message["text"]
                for key, title in titles.items():
                    if f"@{key}" in text and role == "recommender" and target is None:
                        target = title
                    text = text.replace(f"@{key}", title)
                turns.append(Turn(role=role, text=text))  # type: ignore[arg-type]
            if target is not None and len(turns) >= 4:
                out.append((tuple(turns), target, list(titles.values())))
            if len(out) == n:
                break
    return out


@pytest.mark.skipif(not (SHARED / "redial" / "train_partial_raw.jsonl.gz").exists(), reason="staged corpus absent")
def test_each_shipped_judge_ranks_most_real_held_out_dialogues_above_their_target_swapped_copies() -> None:
    """40 held-out ReDial conversations (never seen in training), each beside the same turns with another of the
    sample's targets as its target: every judge gives the real one the higher probability in most cases."""
    sample = redial_held_out(40)
    assert len(sample) == 40
    targets = [t for _, t, _ in sample]
    pairs = []
    for i, (turns, target, titles) in enumerate(sample):
        other = next(t for t in targets[i + 1:] + targets[:i] if t not in titles)
        pairs += [(turns, target), (turns, other)]
    panel = JudgePanel.load(PANEL_DIR)
    votes = panel.vote_many(pairs)
    for j, name in enumerate(panel.names):
        wins = sum(votes[2 * i][j].probability > votes[2 * i + 1][j].probability for i in range(len(sample)))
        assert wins >= 30, (name, wins)


def test_the_panels_votes_reach_routing(session_factory: sessionmaker[Session]) -> None:
    from augment.judging import panel_judge_candidates
    from augment.routing import route_candidates
    from db.engine import write_transaction
    from db.models import Candidate, JudgeVote
    from tests.factories import make_generated_candidates

    with write_transaction(session_factory) as s:
        ids = make_generated_candidates(s, [0.5, 0.6, 0.7])
        for candidate_id, turns in zip(ids, (dialogue(MOVIES[0], 1), dialogue(MOVIES[0], 2),
                                             (Turn(role="seeker", text="ok ok ok ok ok ok"),) * 3), strict=True):
            s.get_one(Candidate, candidate_id).turns = [{"role": t.role, "text": t.text} for t in turns]
    panel = JudgePanel.load(PANEL_DIR)
    summary = panel_judge_candidates(session_factory, "toy", panel, progress=False)
    assert (summary.candidates, summary.votes_cast, summary.invalid) == (3, 15, 0)
    again = panel_judge_candidates(session_factory, "toy", panel, progress=False)
    assert (again.candidates, again.votes_cast) == (0, 0)  # resumable: nothing voted twice
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(JudgeVote)) == 15
        assert {v.judge for v in s.scalars(select(JudgeVote))} == set(JUDGES)
    with write_transaction(session_factory) as s:
        routed = route_candidates(s, "toy", 5, accept_min=4, review_min=2, overlap=1).routed
    assert sum(routed.values()) == 3
    with session_factory() as s:
        statuses = {c.id: c.status for c in s.scalars(select(Candidate))}
        passes = {c.id: c.pass_votes for c in s.scalars(select(Candidate))}
    assert all(s != "generated" for s in statuses.values())
    assert passes[ids[2]] is not None and passes[ids[2]] <= 1  # the degenerate one is discarded


def test_augment_judge_without_an_endpoint_uses_the_panel(session_factory: sessionmaker[Session], database_url: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from augment.settings import get_settings
    from db.engine import write_transaction
    from db.models import JudgeVote
    from lumicrs_cli import app
    from tests.factories import make_generated_candidates

    with write_transaction(session_factory) as s:
        make_generated_candidates(s, [0.5, 0.6])
    for name in ("OPENAI_BASE_URL", "AUGMENT_BASE_URL", "AUGMENT_JUDGE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    from db.settings import get_settings as database_settings
    for clear in (get_settings.cache_clear, database_settings.cache_clear):
        clear()
    try:
        result = CliRunner().invoke(app, ["augment", "judge", "--dataset", "toy", "--json"])
    finally:
        for clear in (get_settings.cache_clear, database_settings.cache_clear):
            clear()
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["votes_cast"] == 10
    with session_factory() as s:
        assert {v.judge for v in s.scalars(select(JudgeVote))} == set(JUDGES)
