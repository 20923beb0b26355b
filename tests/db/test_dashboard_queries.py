"""The Dashboard's agreement inputs, counted in the database (a 100,000-task queue read its 500,000 votes row by row):
the same multisets as reading every row, on both backends."""
from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Candidate, JudgeVote, Review, Reviewer
from db.queries.dashboard import judge_verdict_pairs, verdict_units
from tests.factories import make_judged_panel, make_review_queue


def test_judge_pairs_are_every_valid_vote_on_a_candidate_the_reviewers_decided(session: Session) -> None:
    make_judged_panel(session, decided=40, new=15, seed=3)
    votes = list(session.scalars(select(JudgeVote).order_by(JudgeVote.id)))
    for vote in votes[::7]:
        vote.valid = False  # an invalid vote counts nowhere
    session.commit()
    status = dict(session.execute(select(Candidate.id, Candidate.status)).all())
    expected = Counter((v.judge, v.passed, status[v.candidate_id] == "accepted") for v in votes
                       if v.valid and status[v.candidate_id] in ("accepted", "rejected"))
    pairs = judge_verdict_pairs(session)
    assert Counter(pairs) == expected and len(pairs) == sum(expected.values()) > 100
    assert {type(p) for _, p, a in pairs for p in (p, a)} == {bool}


def test_verdict_units_are_the_tasks_with_two_verdicts_or_more_an_edit_an_approval(session: Session) -> None:
    tasks = make_review_queue(session, n=4, overlap=3)
    people = [Reviewer(name=f"r{i}", role="annotator") for i in range(3)]
    session.add_all(people)
    session.flush()
    given = {tasks[0]: ["accept", "reject"], tasks[1]: ["edit", "accept", "reject"], tasks[2]: ["reject"],
             tasks[3]: ["reject", "reject", "edit"]}
    for task_id, verdicts in given.items():
        for who, verdict in zip(people, verdicts):
            session.add(Review(task_id=task_id, reviewer_id=who.id, verdict=verdict))
    session.commit()
    units = verdict_units(session)
    assert [sorted(u) for u in units] == [["approve", "reject"], ["approve", "approve", "reject"],
                                          ["approve", "reject", "reject"]]  # task order; the single verdict left out
