from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from augment.rating import parse_rubric_scores
from db.models import Rating
from db.rubrics import RUBRIC_KEYS
from lumicrs_cli import app
from tests.chat_server import ChatServer
from tests.factories import make_rating_queue

runner = CliRunner()


def test_parse_rubric_scores() -> None:
    good = json.dumps({"logical_persuasiveness": 4, "informativeness": 3, "lifelikeness": 5,
                       "long_tail_relevance": 2, "diversity": 3})
    assert parse_rubric_scores(f"Here you go: {good}") == json.loads(good)
    assert parse_rubric_scores(good.replace(": 5", ": 6")) is None
    assert parse_rubric_scores("no json") is None


@pytest.mark.parametrize("bad", [0, 6, 3.5, "x", False])
def test_every_rubric_score_is_bounded_on_both_sides(bad: object) -> None:
    for rubric in RUBRIC_KEYS:
        scores: dict[str, object] = {**dict.fromkeys(RUBRIC_KEYS, 3), rubric: bad}
        assert parse_rubric_scores(json.dumps(scores)) is None
        for good in (1, 5):
            assert parse_rubric_scores(json.dumps({**scores, rubric: good})) == {**dict.fromkeys(RUBRIC_KEYS, 3),
                                                                                rubric: good}
    missing = dict.fromkeys(RUBRIC_KEYS[1:], 3)
    assert parse_rubric_scores(json.dumps(missing)) is None


def test_llm_judge_rates_queued_responses(endpoint: ChatServer, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        make_rating_queue(s, n=2)
    junk = runner.invoke(app, ["augment", "rate", "--judge", "judge-junk", "--json"])
    assert junk.exit_code == 0 and json.loads(junk.stdout)["invalid"] == 2
    result = runner.invoke(app, ["augment", "rate", "--judge", "rate-ok", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rated"] == 2
    again = runner.invoke(app, ["augment", "rate", "--judge", "rate-ok", "--json"])
    assert json.loads(again.stdout)["responses"] == 0
    with session_factory() as s:
        rows = list(s.scalars(select(Rating).where(Rating.rater == "rate-ok")))
        assert len(rows) == 10 and {r.rater_kind for r in rows} == {"llm"}
        assert {r.rubric: r.score for r in rows}["lifelikeness"] == 5
