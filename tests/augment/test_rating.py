from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from augment.errors import LLMError
from augment.llm import Completion
from augment.rating import parse_rubric_scores, rate_responses
from augment.structured import RubricReply
from db.models import Rating, Response
from db.rubrics import RUBRIC_KEYS
from lumicrs_cli import app
from tests.chat_server import ChatServer
from tests.factories import make_rating_queue, press_ctrl_c

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


class RubricJudge:
    """Replies by response text: 'good' -> valid scores, 'junk' -> not JSON, 'fail' -> the call fails."""

    name = "rubric-judge"

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, object]]] = []

    def complete(self, messages: list[dict[str, str]], *, schema: object = None, **params: object) -> Completion:
        prompt = messages[-1]["content"]
        self.calls.append((prompt, {"schema": schema, **params}))
        if "junk" in prompt:
            return Completion("I would give it a four.")
        if "fail" in prompt:
            raise LLMError("rubric-judge: refused")
        return Completion(json.dumps(dict(zip(RUBRIC_KEYS, [4, 3, 5, 2, 1]))))

    def complete_text(self, prompt: str, **params: object) -> Completion:
        raise NotImplementedError


def test_rating_stores_valid_scores_counts_the_rest_and_resumes(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        make_rating_queue(s, n=5)
        texts = ["a good reply", "junk reply", "fail reply", "junk again", "another good one"]
        responses = list(s.scalars(select(Response).order_by(Response.id)))
        for response, text in reversed(list(zip(responses, texts))):
            response.text = text
            s.commit()  # one update per commit, last id first: PostgreSQL's heap order is now the reverse of id order
    judge = RubricJudge()
    first = rate_responses(session_factory, judge, concurrency=2, max_tokens=77, limit=4, progress=False)
    assert (first.judge, first.responses, first.rated, first.invalid, first.failed_calls) == ("rubric-judge", 4, 1, 2, 1)
    assert first.interrupted is False
    assert set(texts[:4]) == {t for t in texts if any(t in p for p, _ in judge.calls)}  # the first four by id
    assert all(kw == {"schema": RubricReply, "temperature": 0.0, "max_tokens": 77} for _, kw in judge.calls)
    with session_factory() as s:
        rows = list(s.scalars(select(Rating)))
        assert len(rows) == len(RUBRIC_KEYS) and {(r.rater, r.rater_kind, r.source) for r in rows} == {
            ("rubric-judge", "llm", "llm")}
        assert {r.rubric: r.score for r in rows} == dict(zip(RUBRIC_KEYS, [4, 3, 5, 2, 1]))
    judge.calls.clear()
    second = rate_responses(session_factory, judge, concurrency=2, max_tokens=77, progress=False)
    assert (second.responses, second.rated, second.invalid, second.failed_calls) == (4, 1, 2, 1)
    assert len(judge.calls) == 4 and not any("a good reply" in p for p, _ in judge.calls)


class CtrlCRubricJudge(RubricJudge):
    """Presses Ctrl+C (a real SIGINT to this process) during its first call, then answers it."""

    def complete(self, messages: list[dict[str, str]], *, schema: object = None, **params: object) -> Completion:
        if not self.calls:
            press_ctrl_c()
        return super().complete(messages, schema=schema, **params)


def test_ctrl_c_stops_rating_keeps_what_finished_and_a_rerun_completes_it(
        session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        make_rating_queue(s, n=4)
    judge = CtrlCRubricJudge()
    stopped = rate_responses(session_factory, judge, concurrency=1, max_tokens=50, progress=False)
    with session_factory() as s:
        rated = {r.response_id for r in s.scalars(select(Rating))}
    assert stopped.interrupted is True
    assert stopped.rated == len(rated) == len(judge.calls) < 4
    again = rate_responses(session_factory, judge, concurrency=1, max_tokens=50, progress=False)
    assert again.interrupted is False and again.rated == 4 - len(rated) and len(judge.calls) == 4


@pytest.mark.parametrize("written, score", [(4, 4), (4.0, 4), ("4", 4), (" 5 ", 5), ("1", 1)])
def test_a_score_written_as_a_whole_number_string_or_float_is_read(written: object, score: int) -> None:
    scores = parse_rubric_scores(json.dumps({**dict.fromkeys(RUBRIC_KEYS, 3), "diversity": written}))
    assert scores is not None and scores["diversity"] == score


@pytest.mark.parametrize("written", [True, "true", "-3", "4-", "4.5", "four", "", None, [4]])
def test_a_score_that_is_not_a_whole_number_from_1_to_5_makes_the_reply_invalid(written: object) -> None:
    assert parse_rubric_scores(json.dumps({**dict.fromkeys(RUBRIC_KEYS, 3), "diversity": written})) is None


def test_every_rubric_has_five_described_levels_and_the_judge_reads_them_all() -> None:
    """LumiCRS Table 3 describes each rubric at every score 1-5; the judge's prompt and the raters' help carry all
    five levels of all five rubrics, and Diversity is about the recommended movies, not the wording."""
    from augment.prompts import render_messages
    from db.rubrics import RUBRICS

    assert [r.key for r in RUBRICS] == ["logical_persuasiveness", "informativeness", "lifelikeness",
                                        "long_tail_relevance", "diversity"]
    context = [{"role": "seeker", "text": "c"}]
    prompt = "\n".join(m["content"] for m in render_messages("rate", rubrics=RUBRICS, context=context, response="r"))
    for rubric in RUBRICS:
        assert len(rubric.levels) == 5 and len(set(rubric.levels)) == 5
        for score, text in enumerate(rubric.levels, 1):
            assert f"{score} = {text}" in rubric.guidance and f"{score} = {text}" in prompt
    diversity = RUBRICS[-1]
    assert "genre" in diversity.question and "wording" not in diversity.guidance
