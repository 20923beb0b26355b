"""Routing as a property of the vote thresholds (fast selection, both backends): with any accept/review minimum,
every fully judged candidate lands where its pass count says, review tasks exist exactly for the middle band
with the configured overlap, and candidates still missing votes are left alone."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from augment.routing import route_candidates, route_for
from db.models import Candidate, JudgeVote, ReviewTask
from tests.factories import make_generated_candidates

N_JUDGES = 5


def expected_route(passes: int, accept_min: int, review_min: int) -> str:
    return "auto_accepted" if passes >= accept_min else "needs_review" if passes >= review_min else "discarded"


def judged_candidates(session: Session, pass_counts: list[int], votes_cast: list[int] | None = None) -> list[int]:
    """One filtered candidate per entry, with `votes_cast` judge votes of which the first `pass_count` pass."""
    ids = make_generated_candidates(session, [0.5] * len(pass_counts))
    for i, (candidate_id, passes) in enumerate(zip(ids, pass_counts)):
        cast = (votes_cast or [N_JUDGES] * len(pass_counts))[i]
        for j in range(cast):
            session.add(JudgeVote(candidate_id=candidate_id, judge=f"judge-{j}", valid=True, passed=j < passes,
                                  semantic=3, fluency=3, plausibility=3, rationale=""))
    session.flush()
    return ids


@pytest.mark.parametrize(("accept_min", "review_min", "overlap"), [(4, 2, 1), (5, 3, 2), (3, 1, 3), (2, 2, 1), (5, 5, 2)])
def test_every_pass_count_routes_by_the_thresholds(session: Session, accept_min: int, review_min: int,
                                                   overlap: int) -> None:
    pass_counts = [0, 1, 2, 3, 4, 5]
    ids = judged_candidates(session, pass_counts)
    summary = route_candidates(session, "toy", N_JUDGES, accept_min=accept_min, review_min=review_min, overlap=overlap)
    expected = {i: expected_route(p, accept_min, review_min) for i, p in zip(ids, pass_counts)}
    for candidate_id, passes in zip(ids, pass_counts):
        candidate = session.get_one(Candidate, candidate_id)
        assert (candidate.status, candidate.pass_votes) == (expected[candidate_id], passes)
        assert route_for(passes, accept_min, review_min) == expected[candidate_id]
    tasks = list(session.scalars(select(ReviewTask)))
    assert sorted(t.candidate_id for t in tasks) == sorted(i for i, s in expected.items() if s == "needs_review")
    assert {t.overlap for t in tasks} <= {overlap} and {t.kind for t in tasks} <= {"adjudication"}
    counts: dict[str, int] = {}
    for status in expected.values():
        counts[status] = counts.get(status, 0) + 1
    assert summary.routed == counts and summary.waiting_for_votes == 0


def test_candidates_missing_votes_wait_and_limit_bounds_the_run(session: Session) -> None:
    ids = judged_candidates(session, [5, 0, 3, 4, 2], votes_cast=[4, 0, 5, 5, 5])
    summary = route_candidates(session, "toy", N_JUDGES, limit=3)  # the first three: one waits, one has none yet
    statuses = [session.get_one(Candidate, i).status for i in ids]
    assert statuses == ["generated", "generated", "needs_review", "generated", "generated"]
    assert summary.waiting_for_votes == 2 and summary.routed == {"needs_review": 1}
    rest = route_candidates(session, "toy", N_JUDGES)
    assert [session.get_one(Candidate, i).status for i in ids] == [
        "generated", "generated", "needs_review", "auto_accepted", "needs_review"]
    assert rest.waiting_for_votes == 2 and rest.routed == {"auto_accepted": 1, "needs_review": 1}
    assert len(list(session.scalars(select(ReviewTask)))) == 2  # routing twice never makes a second task


def test_only_this_datasets_filtered_candidates_are_routed(session: Session) -> None:
    (kept,) = judged_candidates(session, [5])
    unfiltered = session.get_one(Candidate, kept)
    unfiltered.similarity_to_prototype = None  # not through the near-duplicate filter yet
    session.flush()
    assert route_candidates(session, "toy", N_JUDGES).routed == {}
    assert route_candidates(session, "other", N_JUDGES).routed == {}
    assert session.get_one(Candidate, kept).status == "generated"


def test_the_defaults_are_the_papers_bands_with_one_reviewer_and_one_judge_may_suffice(session: Session) -> None:
    ids = judged_candidates(session, [0, 1, 2, 3, 4, 5])
    summary = route_candidates(session, "toy", N_JUDGES)
    assert summary.routed == {"discarded": 2, "needs_review": 2, "auto_accepted": 2}
    assert [session.get_one(Candidate, i).status for i in ids] == [expected_route(p, 4, 2) for p in range(6)]
    assert {t.overlap for t in session.scalars(select(ReviewTask))} == {1}
    assert route_for(4) == "auto_accepted" and route_for(3) == "needs_review" and route_for(1) == "discarded"


def test_a_candidate_without_any_vote_waits_even_for_a_single_judge(session: Session) -> None:
    judged, unjudged = judged_candidates(session, [1, 0], votes_cast=[1, 0])
    summary = route_candidates(session, "toy", 1, accept_min=1, review_min=1)
    assert (summary.routed, summary.waiting_for_votes) == ({"auto_accepted": 1}, 1)
    assert session.get_one(Candidate, unjudged).status == "generated"
