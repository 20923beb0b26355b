"""The dialogue writer: its training pairs, its one prompt, the generator path (cache, resume, target tagging), the
training command on a tiny model (adapter + provenance, nothing half-written), and the shipped adapter (slow)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from augment.llm import Completion
from augment.similarity import SimilarityWeights
from augment.writer import (
    WriterConfig,
    WriterGenerator,
    data_digest,
    merge_turns,
    names_target,
    pair_texts,
    writer_pairs,
    writer_prompt,
)
from db.models import Candidate, LLMCall
from db.types import MovieInfo, Turn
from lumicrs_cli import app
from tests.factories import make_conversation, make_dataset, make_movie

STORIES = {"alien": ("Alien (1979)", "horror", "something scary in space"),
           "jaws": ("Jaws (1975)", "horror", "a scary shark film"),
           "heat": ("Heat (1995)", "crime", "a heist with good actors"),
           "fargo": ("Fargo (1996)", "crime", "a crime story in the snow")}


def build_writer_corpus(session: Session) -> dict[str, Any]:
    """Four tail movies (one mention each), each recommended in its own train dialogue; one dialogue names none."""
    ds = make_dataset(session, "toy")
    movies = {key: make_movie(session, ds, key, title, meta={"genre": [genre], "plot": f"The plot of {key}."})
              for key, (title, genre, _) in STORIES.items()}
    for key, (title, _, wish) in STORIES.items():
        make_conversation(session, ds, f"c-{key}", [("seeker", "hi", []), ("seeker", f"I want {wish}", []),
                                                    ("recommender", f"Try {title}", [movies[key]]),
                                                    ("seeker", "thanks", [])])
    make_conversation(session, ds, "c-none", [("seeker", "hello", []), ("recommender", "what do you like?", [])])
    session.commit()
    return movies


def test_pairs_follow_a_prototype_of_another_movie_of_the_same_tier(session: Session) -> None:
    build_writer_corpus(session)
    pairs = writer_pairs(session, WriterConfig(name="w", dataset="toy"), SimilarityWeights(), progress=False)
    assert sorted(p.target.title for p in pairs) == sorted(title for title, _, _ in STORIES.values())
    for pair in pairs:
        assert pair.tier == "tail"
        prototype_movies = {m for t in pair.prototype for m in t.movie_ids}
        assert pair.target.id not in prototype_movies and prototype_movies  # another movie's dialogue
        assert names_target(pair.dialogue, pair.target.title)


def test_one_prompt_names_the_movie_tier_and_prototype_and_the_dialogue_merges_turns() -> None:
    cfg = WriterConfig(name="w", plot_words=3, prototype_turns=2, turn_chars=20)
    target = MovieInfo(id=1, external_id="1", title="Alien (1979)", genres=("horror", "sci-fi"),
                       plot="In space no one can hear you scream.")
    prototype = [Turn(role="seeker", text="hi"), Turn(role="seeker", text="any   heist films?"),
                 Turn(role="recommender", text="Heat (1995) is a classic"), Turn(role="seeker", text="cut")]
    assert writer_prompt(target, "tail", prototype, cfg) == (
        "Movie: Alien (1979) | horror, sci-fi | tail tier\nPlot: In space no\n"
        "Example conversation about another movie:\nSeeker: hi any heist films?\nRecommender: Heat (1995) is a cla\n"
        'A new conversation in which the Recommender recommends "Alien (1979)":\n')
    assert [t.text for t in merge_turns(prototype)] == ["hi any   heist films?", "Heat (1995) is a classic", "cut"]
    assert names_target([Turn(role="recommender", text="try ALIEN tonight")], "Alien (1979)")
    assert not names_target([Turn(role="seeker", text="I saw Alien")], "Alien (1979)")  # a seeker turn does not count
    assert data_digest([("a", "b")]) != data_digest([("a", "b ")])


class ScriptedWriter:
    """Stands in for the model (an external engine): continues every prompt with a dialogue naming its movie."""

    name = "local-writer:test"

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def complete(self, messages: list[dict[str, str]], **params: Any) -> Completion:
        raise AssertionError("the writer only continues text")

    def complete_text(self, prompt: str, **params: Any) -> Completion:
        self.prompts.append(prompt)
        title = prompt.rsplit('recommends "', 1)[1].split('"', 1)[0]
        return Completion(f"Seeker: anything good? #{params['seed']}\nRecommender: watch {title.rsplit(' (', 1)[0]}\n\n"
                          "Movie: the model ran on", 20, 12, 5.0)


def test_local_writer_generates_through_the_cache_and_resumes(session_factory: sessionmaker[Session],
                                                               database_url: str) -> None:
    from augment.cache import CachedChat
    from augment.generate import run_generation
    from augment.prototypes import select_prototypes

    with session_factory() as session:
        build_writer_corpus(session)
        select_prototypes(session, "toy", SimilarityWeights(), progress=False)
        session.commit()
    scripted = ScriptedWriter()
    generator = WriterGenerator(CachedChat(scripted, session_factory), WriterConfig(name="w"), temperature=0.7)
    first = run_generation(session_factory, "toy", generator, tail_range=(2, 2), progress=False)
    assert (first.created, first.unparseable, first.failed) == (8, 0, 0)
    with session_factory() as session:
        candidates = list(session.scalars(select(Candidate)))
        assert {c.generator for c in candidates} == {"local-writer:test"}
        for candidate in candidates:  # the text after the blank line is not part of the dialogue
            assert [t["role"] for t in candidate.turns] == ["seeker", "recommender"]
            assert candidate.turns[1]["movie_ids"] == [candidate.movie_id]  # the target is tagged where named
        assert session.scalar(select(func.count()).select_from(LLMCall)) == 8
    assert all(p.startswith("Movie: ") for p in scripted.prompts)
    again = run_generation(session_factory, "toy", generator, tail_range=(2, 2), progress=False)
    assert (again.planned, again.created) == (0, 0) and len(scripted.prompts) == 8


def test_train_writer_on_a_tiny_model_writes_the_adapter_with_its_provenance(
        session_factory: sessionmaker[Session], database_url: str, tmp_path: Path) -> None:
    from tests.trainer.tiny_lm import build_tiny_lm

    with session_factory() as session:
        build_writer_corpus(session)
        cfg = WriterConfig(name="w", dataset="toy")
        pairs = writer_pairs(session, cfg, SimilarityWeights(), progress=False)
    tiny = build_tiny_lm(tmp_path / "tiny", [text for p in pairs for text in pair_texts(p, cfg)])
    config = tmp_path / "writer.yaml"
    config.write_text(f"name: toy-writer\ndataset: toy\nbase_model: {tiny}\nsteps: 3\nbatch_size: 2\nvalid_fraction: 0.25\n"
                      f"valid_rows: 2\noutput: {tmp_path / 'adapter'}\n")
    result = CliRunner().invoke(app, ["train-writer", "--config", str(config), "--quiet"])
    assert result.exit_code == 0, result.output
    provenance = json.loads((tmp_path / "adapter" / "provenance.json").read_text())
    assert provenance["command"] == f"lumicrs train-writer --config {config}"
    assert provenance["config"]["steps"] == 3 and provenance["seed"] == 42 and len(provenance["data_sha256"]) == 64
    assert {"valid_loss_before", "valid_loss_after"} <= set(provenance["metrics"])
    assert (tmp_path / "adapter" / "adapter_model.safetensors").stat().st_size > 0
    assert not (tmp_path / "adapter.partial").exists()
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nsteps: many\n")
    refused = CliRunner().invoke(app, ["train-writer", "--config", str(broken)])
    assert refused.exit_code == 2 and f"{broken}: steps:" in " ".join(refused.output.split())


def babadook_context() -> Any:
    """A tail movie with a prototype of another horror film: what the shipped writer's slow tests write for."""
    from augment.generators import GenerationContext

    target = MovieInfo(id=1, external_id="1", title="The Babadook (2014)", genres=("horror", "drama"),
                       plot="A single mother and her child fall into a deep well of paranoia when an eerie children's "
                            "book titled Mister Babadook manifests in their home.")
    prototype = (Turn(role="seeker", text="Hi! I like scary movies."),
                 Turn(role="recommender", text="Have you seen It Follows (2014) ?"),
                 Turn(role="seeker", text="No, what is it about?"),
                 Turn(role="recommender", text="A girl is followed by a curse. It is really creepy."))
    return GenerationContext(target, "tail", prototype, ())


@pytest.mark.slow
def test_the_shipped_writer_names_its_target_movie() -> None:
    """The committed adapter on the packaged Gemma 3 270M, as `--generator local-writer` runs it."""
    from augment.writer import shipped_config
    from augment.writer_engines import LocalWriterChat

    cfg = shipped_config()
    generator = WriterGenerator(LocalWriterChat(cfg.output), cfg, temperature=0.7)
    ctx = babadook_context()
    target = ctx.target
    greedy = WriterGenerator(generator.chat, cfg, temperature=0.0)  # argmax decoding: the same on any CPU
    assert names_target(greedy.generate(ctx, 0), target.title)
    assert any(names_target(generator.generate(ctx, i), target.title) for i in range(2))  # sampled at T = 0.7


class ReplyList:
    """A writer whose tries, in seed order, are the given replies."""

    name = "replies"

    def __init__(self, replies: list[str]) -> None:
        self.replies, self.calls = replies, 0

    def complete_text(self, prompt: str, **params: Any) -> Completion:
        self.calls += 1
        return Completion(self.replies[self.calls - 1], 10, 10, 1.0)


def test_with_checks_the_writer_samples_on_until_a_try_passes_the_reviewers_first_checks() -> None:
    """The rule (AUGMENT_WRITER_CHECKS): a try that names the target but has the recommender asking for a suggestion,
    a repeated turn, a 'haven't seen it' after recommending it, or a request for genres the target lacks, does not end
    the sampling; a clean one does. Without a clean try the first naming one is kept."""
    from augment.generators import GenerationContext
    from db.types import MovieInfo

    ctx = GenerationContext(MovieInfo(id=4, external_id="4", title="Alien (1979)", genres=("horror", "science fiction")),
                            "tail", (), ())
    role = "Seeker: hi\nRecommender: can you recommend something? Alien (1979) maybe"
    repeated = "Seeker: a scary one?\nRecommender: Alien (1979)\nSeeker: a scary one?"
    unseen = "Seeker: a scary one?\nRecommender: Alien (1979)! I haven't seen Alien (1979) though"
    contradicts = "Seeker: a romantic comedy please\nRecommender: Alien (1979)"
    clean = "Seeker: something scary?\nRecommender: Alien (1979) is a classic"
    for bad in (role, repeated, unseen, contradicts):
        chat = ReplyList([bad, clean, clean])
        writer = WriterGenerator(chat, WriterConfig(name="w"), temperature=0.7, tries=3, checks=True)
        turns, used = writer.generate_counting(ctx, 0)
        assert (used, turns[-1].text) == (2, "Alien (1979) is a classic"), bad
        plain = WriterGenerator(ReplyList([bad, clean]), WriterConfig(name="w"), temperature=0.7, tries=3)
        assert plain.generate_counting(ctx, 0)[1] == 1  # without checks, naming the target is enough
    silent = "Seeker: hi\nRecommender: not that one"
    fallback = WriterGenerator(ReplyList([silent, role, repeated]), WriterConfig(name="w"), temperature=0.7, tries=3,
                               checks=True)
    turns, used = fallback.generate_counting(ctx, 0)
    assert used == 3 and turns[-1].text == "can you recommend something? Alien (1979) maybe"  # the first naming try
