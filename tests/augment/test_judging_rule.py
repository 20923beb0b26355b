"""Judging as a rule (fast selection, both backends): which candidates are judged, what each reply becomes as a stored
vote, what a re-run sends again. Judges are in-process models with fixed replies; HTTP behaviour is covered by
test_llm_faults.py and the real engine by test_local_engine.py."""
from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from augment.errors import LLMError
from augment.judging import judge_candidates, parse_vote
from augment.llm import Completion, Message
from augment.structured import JudgeReply
from db.models import Candidate, JudgeVote
from tests.factories import make_generated_candidates, press_ctrl_c


def reply(semantic: object, fluency: object, plausibility: object, passed: object = True) -> str:
    return json.dumps({"semantic_consistency": semantic, "fluency": fluency, "plausibility": plausibility,
                       "pass": passed, "rationale": "because"})


class FixedJudge:
    """Answers every prompt with one text (or fails every call); records the target titles it was asked about."""

    def __init__(self, name: str, text: str | None) -> None:
        self.name, self.text = name, text
        self.asked: list[str] = []
        self.params: list[dict[str, Any]] = []

    def complete(self, messages: list[Message], *, schema: Any = None, **params: Any) -> Completion:
        self.asked.append(messages[-1]["content"])
        self.params.append({"schema": schema, **params})
        if self.text is None:
            raise LLMError(f"{self.name}: refused")
        return Completion(self.text)

    def complete_text(self, prompt: str, **params: Any) -> Completion:
        raise NotImplementedError


def make_candidates(session: Session, dataset: str, similarities: list[float | None]) -> list[int]:
    ids = make_generated_candidates(session, similarities, dataset)
    session.commit()
    return ids


def votes(session_factory: sessionmaker[Session]) -> dict[tuple[int, str], JudgeVote]:
    with session_factory() as session:
        return {(v.candidate_id, v.judge): v for v in session.scalars(select(JudgeVote))}


def test_every_judge_votes_once_on_each_filtered_candidate_of_the_dataset(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        filtered, unfiltered, discarded = make_candidates(session, "toy", [0.4, None, 0.95])
        session.get_one(Candidate, discarded).status = "duplicate"
        session.commit()
        (elsewhere,) = make_candidates(session, "other", [0.4])
    judges = [FixedJudge("pass", reply(4, 5, 3)), FixedJudge("low", reply(4, 2, 5)),
              FixedJudge("junk", "I think it is fine."), FixedJudge("range", reply(4, 6, 4)),
              FixedJudge("empty", ""), FixedJudge("down", None), FixedJudge("refused", None)]
    summary = judge_candidates(session_factory, "toy", judges, progress=False)
    # 5 stored votes (2 valid, 3 invalid) and 2 failed calls: every count differs from the others
    assert (summary.candidates, summary.votes_cast, summary.invalid, summary.failed_calls) == (1, 5, 3, 2)
    stored = votes(session_factory)
    assert set(stored) == {(filtered, name) for name in ("pass", "low", "junk", "range", "empty")}
    ok = stored[filtered, "pass"]
    assert (ok.valid, ok.passed, ok.semantic, ok.fluency, ok.plausibility, ok.rationale) == (True, True, 4, 5, 3, "because")
    assert ok.raw == reply(4, 5, 3)
    low = stored[filtered, "low"]
    assert (low.valid, low.passed, low.fluency) == (True, False, 2)
    for name in ("junk", "range", "empty"):
        bad = stored[filtered, name]
        assert (bad.valid, bad.passed, bad.semantic, bad.fluency, bad.plausibility, bad.rationale) == (
            False, False, None, None, None, "")
    assert len(judges[0].asked) == 1 and "Tail Film (2011)" in judges[0].asked[0]
    assert {unfiltered, discarded, elsewhere}.isdisjoint(c for c, _ in stored)
    assert summary.interrupted is False
    assert judges[0].params == [{"schema": JudgeReply, "temperature": 0.0, "max_tokens": 512}]  # the defaults


def test_a_long_reply_is_stored_up_to_8000_characters_and_its_rationale_up_to_2000(
        session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        (candidate,) = make_candidates(session, "toy", [0.4])
    text = json.dumps({"semantic_consistency": 4, "fluency": 4, "plausibility": 4, "pass": True,
                       "rationale": "r" * 9000})
    judge_candidates(session_factory, "toy", [FixedJudge("long", text)], progress=False)
    vote = votes(session_factory)[candidate, "long"]
    assert vote.valid and vote.raw == text[:8000] and len(vote.raw) == 8000
    assert vote.rationale == "r" * 2000


@pytest.mark.parametrize("min_score", [2, 3, 4, 5])
def test_a_vote_passes_exactly_when_every_score_reaches_min_score(session_factory: sessionmaker[Session],
                                                                  min_score: int) -> None:
    scores = {"a": (2, 3, 4), "b": (3, 3, 3), "c": (5, 4, 5), "d": (5, 5, 5)}
    with session_factory() as session:
        (candidate,) = make_candidates(session, "toy", [0.1])
    judge_candidates(session_factory, "toy", [FixedJudge(n, reply(*s)) for n, s in scores.items()],
                     min_score=min_score, progress=False)
    stored = votes(session_factory)
    assert {n: stored[candidate, n].passed for n in scores} == {n: min(s) >= min_score for n, s in scores.items()}


def test_a_rerun_asks_only_the_missing_judges_and_limit_counts_candidates(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        ids = make_candidates(session, "toy", [0.1, 0.2, 0.3])
    first, second = FixedJudge("first", reply(4, 4, 4)), FixedJudge("second", reply(4, 4, 4))
    summary = judge_candidates(session_factory, "toy", [first], limit=2, progress=False)
    assert (summary.candidates, summary.votes_cast, len(first.asked)) == (2, 2, 2)
    assert set(votes(session_factory)) == {(ids[0], "first"), (ids[1], "first")}
    first.asked.clear()
    summary = judge_candidates(session_factory, "toy", [first, second], progress=False)
    assert (summary.candidates, summary.votes_cast, len(first.asked), len(second.asked)) == (3, 4, 1, 3)
    assert set(votes(session_factory)) == {(i, j) for i in ids for j in ("first", "second")}
    again = judge_candidates(session_factory, "toy", [first, second], progress=False)
    assert (again.candidates, again.votes_cast, len(first.asked), len(second.asked)) == (0, 0, 1, 3)


class CtrlCJudge(FixedJudge):
    """Presses Ctrl+C (a real SIGINT to this process) during its first call, then answers it."""

    def complete(self, messages: list[Message], *, schema: Any = None, **params: Any) -> Completion:
        if not self.asked:
            press_ctrl_c()
        return super().complete(messages, schema=schema, **params)


def test_ctrl_c_stops_judging_keeps_what_finished_and_a_rerun_completes_it(
        session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        ids = make_candidates(session, "toy", [0.1, 0.2, 0.3, 0.4])
    judge = CtrlCJudge("stopper", reply(4, 4, 4))
    stopped = judge_candidates(session_factory, "toy", [judge], concurrency=1, progress=False)
    stored = votes(session_factory)
    assert stopped.interrupted is True
    assert stopped.votes_cast == len(stored) == len(judge.asked) < len(ids)  # nothing asked was lost, the rest dropped
    again = judge_candidates(session_factory, "toy", [judge], concurrency=1, progress=False)
    assert again.interrupted is False and again.votes_cast == len(ids) - len(stored)
    assert set(votes(session_factory)) == {(i, "stopper") for i in ids} and len(judge.asked) == len(ids)


@pytest.mark.parametrize("text", ["", "no json here", reply(0, 4, 4), reply(4, 4, "x"), "[1, 2, 3]"])
def test_an_unreadable_reply_is_an_invalid_vote_that_does_not_pass(text: str) -> None:
    vote = parse_vote(text)
    assert (vote.valid, vote.passed, vote.rationale) == (False, False, "")
    assert set(vote.scores.values()) == {None}
    assert parse_vote(reply(4, 4, 4)).passed is True


def test_judges_asked_for_scores_only_cast_valid_votes_without_a_rationale(
        session_factory: sessionmaker[Session]) -> None:
    """The local slice's placeholder judges get the scores-only schema (their rationales are noise and slow)."""
    from augment.structured import ScoresOnlyJudgeReply
    with session_factory() as session:
        (candidate,) = make_candidates(session, "toy", [0.4])
    judge = FixedJudge("placeholder", '{"semantic_consistency": 4, "fluency": 3, "plausibility": 3}')
    summary = judge_candidates(session_factory, "toy", [judge], progress=False, schema=ScoresOnlyJudgeReply)
    assert (summary.votes_cast, summary.invalid) == (1, 0) and judge.params[0]["schema"] is ScoresOnlyJudgeReply
    vote = votes(session_factory)[(candidate, "placeholder")]
    assert (vote.valid, vote.passed, vote.rationale) == (True, True, "")
    assert ScoresOnlyJudgeReply.model_json_schema()["additionalProperties"] is False  # no rationale under a grammar
