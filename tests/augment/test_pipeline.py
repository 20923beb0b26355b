from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from db.models import Candidate, Conversation, Dataset, JudgeVote, Movie, Prototype, ReviewTask, SupportExample
from lumicrs_cli import app
from tests.augment.conftest import build_longtail_corpus
from tests.chat_server import ChatServer
from tests.factories import make_conversation, make_movie

runner = CliRunner()
JUDGES = "judge-pass#1,judge-pass#2,judge-fail,judge-junk,flaky-judge-pass"


def cli(*args: str) -> dict[str, object]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.slow
def test_full_pipeline_over_http(endpoint: ChatServer, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        build_longtail_corpus(s)
    assert cli("augment", "prototypes", "--dataset", "toy")["created"] == 2
    with session_factory() as s:
        tiers = {p.tier for p in s.scalars(select(Prototype))}
        assert tiers == {"body", "tail"}
        assert s.scalar(select(func.count()).select_from(SupportExample)) == 2 * 5

    generated = cli("augment", "generate", "--dataset", "toy", "--model", "gen-ok")
    assert 8 + 4 <= generated["created"] == generated["planned"] <= 10 + 5
    requests = endpoint.requests["gen-ok"]
    assert requests == generated["created"]
    again = cli("augment", "generate", "--dataset", "toy", "--model", "gen-ok")
    assert again["planned"] == 0 and endpoint.requests["gen-ok"] == requests

    with session_factory() as s:
        candidate = s.scalars(select(Candidate)).first()
        assert candidate is not None and candidate.generator == "gen-ok" and len(candidate.prompt_hash) == 64
        assert any(t["movie_ids"] == [candidate.movie_id] for t in candidate.turns)  # target mention tagged

    filtered = cli("augment", "filter", "--dataset", "toy")
    assert filtered["checked"] == generated["created"] and filtered["duplicates"] == 0

    judged = cli("augment", "judge", "--dataset", "toy", "--judges", JUDGES)
    assert judged["votes_cast"] == 5 * generated["created"] and judged["invalid"] == generated["created"]
    assert endpoint.calls("flaky-judge-pass") == 3 * generated["created"]  # two 500s, then success

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUGMENT_JUDGES", json.dumps(JUDGES.split(",")))
        from augment.settings import get_settings

        get_settings.cache_clear()
        routed = cli("augment", "route", "--dataset", "toy")
        get_settings.cache_clear()
    assert routed == {"needs_review": generated["created"], "waiting_for_votes": 0, "sent_to_audit": 0, "human_decided": 0}
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(ReviewTask)) == generated["created"]
        junk = s.scalar(select(JudgeVote).where(JudgeVote.judge == "judge-junk"))
        assert junk is not None and not junk.valid and junk.raw == "Looks fine to me!"
        fail = s.scalar(select(JudgeVote).where(JudgeVote.judge == "judge-fail"))
        assert fail is not None and fail.valid and not fail.passed and fail.rationale == "Off topic."
    assert cli("augment", "status", "--dataset", "toy") == {"needs_review": generated["created"]}


@pytest.mark.slow
def test_near_duplicates_are_discarded(endpoint: ChatServer, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        build_longtail_corpus(s)
    cli("augment", "prototypes", "--dataset", "toy")
    cli("augment", "generate", "--dataset", "toy", "--model", "gen-copy")
    result = cli("augment", "filter", "--dataset", "toy")
    assert result["duplicates"] == result["checked"] > 0
    with session_factory() as s:
        sims = list(s.scalars(select(Candidate.similarity_to_prototype)))
        assert min(sims) > 0.85


def test_junk_generations_are_counted_not_stored(endpoint: ChatServer, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        build_longtail_corpus(s)
        s.add(Prototype(movie_id=3, conversation_id=8, tier="tail", score=1.0, weights={}))
        s.commit()
    result = cli("augment", "generate", "--dataset", "toy", "--model", "gen-junk")
    assert result["created"] == 0 and result["unparseable"] == result["planned"] > 0


def test_no_endpoint_is_a_clear_error(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    from augment.settings import get_settings

    get_settings.cache_clear()
    result = runner.invoke(app, ["augment", "generate", "--dataset", "toy"])
    assert result.exit_code == 2 and "OPENAI_BASE_URL" in result.output
    get_settings.cache_clear()


def test_offline_template_baseline(database_url: str, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        build_longtail_corpus(s)
        s.add(Prototype(movie_id=3, conversation_id=8, tier="tail", score=1.0, weights={}))
        s.commit()
    result = cli("augment", "generate", "--dataset", "toy", "--generator", "baseline-template")
    assert result["generator"] == "baseline-template" and result["created"] == result["planned"] >= 8
    with session_factory() as s:
        texts = [t["text"] for c in s.scalars(select(Candidate)) for t in c.turns]
        assert any("Tail Film (2011)" in t for t in texts)


@pytest.mark.slow
def test_cold_start_prototypes_for_movies_outside_train(database_url: str,
                                                        session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        build_longtail_corpus(s)
        toy = s.scalars(select(Dataset)).one()
        ghost = make_movie(s, toy, "g", "Ghost Ship (2002)", meta={"genre": ["horror"], "plot": "A haunted ship."})
        make_conversation(s, toy, "only-in-test", [("seeker", "anything scary?", []),
                                                   ("recommender", "Ghost Ship", [ghost])], split="test")
        s.commit()
        ghost_id = ghost.id
    plain = cli("augment", "prototypes", "--dataset", "toy")
    assert plain["created"] == 2 and plain["cold_start"] == 0
    cold = cli("augment", "prototypes", "--dataset", "toy", "--cold-start")
    assert cold["created"] == 0 and cold["cold_start"] == 1
    with session_factory() as s:
        proto = s.scalars(select(Prototype).where(Prototype.movie_id == ghost_id)).one()
        chosen = s.get_one(Conversation, proto.conversation_id)
        assert chosen.split == "train" and chosen.external_id == "scary"  # the horror dialogue, by movie text
        assert proto.weights == {"cold_start": True}


@pytest.mark.slow
def test_prototype_tiers_are_counted_on_the_train_split_only(session_factory: sessionmaker[Session],
                                                             database_url: str) -> None:
    """Ten test-split mentions would make the body film head and the tail film body; counted on train they stay."""
    with session_factory() as s:
        build_longtail_corpus(s)
        dataset = s.scalars(select(Dataset).where(Dataset.name == "toy")).one()
        films = {m.title: m for m in s.scalars(select(Movie))}
        for i in range(10):
            make_conversation(s, dataset, f"test{i}", [
                ("seeker", "any ideas?", []),
                ("recommender", "these two", [films["Body Film (2004)"], films["Tail Film (2011)"]])], split="test")
        s.commit()
    assert cli("augment", "prototypes", "--dataset", "toy")["created"] == 2
    with session_factory() as s:
        tiers = {s.get_one(Movie, p.movie_id).title: p.tier for p in s.scalars(select(Prototype))}
    assert tiers == {"Body Film (2004)": "body", "Tail Film (2011)": "tail"}


def test_the_cold_start_plan_does_not_change_when_the_test_split_does(database_url: str,
                                                                      session_factory: sessionmaker[Session]) -> None:
    """Prototypes, tiers and support sets (cold-start ones included) read the catalog and the train split only: new
    test dialogues, even ones that mention the cold-start movie and the train movies, leave the plan as it was."""
    def plan() -> dict[str, tuple[object, ...]]:
        cli("augment", "prototypes", "--dataset", "toy", "--cold-start")
        with session_factory() as s:
            rows = {}
            for proto in s.scalars(select(Prototype)):
                supports = tuple(s.scalars(select(Conversation.external_id).join(
                    SupportExample, SupportExample.conversation_id == Conversation.id)
                    .where(SupportExample.prototype_id == proto.id).order_by(SupportExample.rank)))
                rows[s.get_one(Movie, proto.movie_id).external_id] = (
                    proto.tier, s.get_one(Conversation, proto.conversation_id).external_id, proto.weights, supports,
                    round(proto.score, 6))
            s.execute(delete(SupportExample))
            s.execute(delete(Prototype))
            s.commit()
        return rows

    with session_factory() as s:
        build_longtail_corpus(s)
        toy = s.scalars(select(Dataset)).one()
        make_movie(s, toy, "g", "Ghost Ship (2002)", meta={"genre": ["horror"], "plot": "A haunted ship."})
        s.commit()
    before = plan()
    assert before["g"][2] == {"cold_start": True} and before["g"][0] == "tail"
    with session_factory() as s:
        toy = s.scalars(select(Dataset)).one()
        movies = {m.external_id: m for m in s.scalars(select(Movie).where(Movie.dataset_id == toy.id))}
        for i, movie in enumerate(movies.values()):  # every movie, the cold-start one too, now mentioned in test
            make_conversation(s, toy, f"test-{i}", [("seeker", f"I loved {movie.title}, more like it?", [movie]),
                                                   ("recommender", f"Then watch {movie.title} again", [movie])],
                              split="test")
        s.commit()
    assert plan() == before


def test_the_offline_baselines_name_the_target_in_a_recommender_turn_and_random_is_seeded() -> None:
    """The lift's no-LLM arms (LumiCRS Table 10 / Fig. 7's static template and random baselines, our reading): the
    template is a fixed seeker/recommender exchange whose recommender turns carry the title; random draws template
    sentences per role in a seeded order, so a rerun writes the same dialogue."""
    from augment.generators import GenerationContext, RandomBaseline, TemplateBaseline
    from db.types import MovieInfo

    ctx = GenerationContext(MovieInfo(id=7, external_id="7", title="Tail Film (2011)", genres=("horror",),
                                      plot="A ghost haunts a ship. Then more."), "tail", (), ())
    template = TemplateBaseline().generate(ctx, 0)
    assert [t.role for t in template] == ["seeker", "recommender", "seeker", "recommender", "seeker"]
    assert any("Tail Film (2011)" in t.text for t in template if t.role == "recommender")
    assert TemplateBaseline().generate(ctx, 1) != template  # the sample index varies the sentences
    random_one = RandomBaseline().generate(ctx, 3)
    assert random_one == RandomBaseline().generate(ctx, 3) != RandomBaseline().generate(ctx, 4)
    assert [t.role for t in random_one[:2]] == ["seeker", "recommender"]
