from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.engine import write_transaction
from db.models import Candidate, Rating, Review, ReviewTask
from db.queries.review import (
    claim_next_task,
    get_or_create_reviewer,
    now_utc,
    submit_ratings,
    submit_review,
)
from db.rubrics import RUBRIC_KEYS
from tests.factories import EDITED_TURNS, make_rating_queue, make_review_queue, race

ALL_FOURS = dict.fromkeys(RUBRIC_KEYS, 4)


def test_locks_steer_assignment_and_expire(session: Session) -> None:
    t1, t2, _ = make_review_queue(session, n=3, overlap=1)
    alice, bob = get_or_create_reviewer(session, "alice"), get_or_create_reviewer(session, "bob")
    at = now_utc()
    assert claim_next_task(session, alice, "adjudication", at=at).id == t1
    assert claim_next_task(session, alice, "adjudication", at=at).id == t1  # resumes her own lock
    assert claim_next_task(session, bob, "adjudication", at=at).id == t2    # t1 is locked by alice
    submit_review(session, t2, bob, "accept")
    carol = get_or_create_reviewer(session, "carol")
    assert claim_next_task(session, carol, "adjudication", at=at).id == 3    # t1 locked, t2 done
    later = at + timedelta(minutes=20)
    assert claim_next_task(session, bob, "adjudication", at=later).id == t1  # alice's lock expired


def test_verdict_rules_and_decision(session: Session) -> None:
    (task,) = make_review_queue(session, n=1, overlap=1)
    alice = get_or_create_reviewer(session, "alice")
    with pytest.raises(ValueError, match="reason is required to reject"):
        submit_review(session, task, alice, "reject")
    with pytest.raises(ValueError, match="verdict must be"):
        submit_review(session, task, alice, "maybe")
    submit_review(session, task, alice, "edit", "fix tone", [{"role": "seeker", "text": "hi"},
                                                             {"role": "recommender", "text": "Tail Film!"}])
    task_row = session.get_one(ReviewTask, task)
    assert task_row.status == "done"
    assert session.get_one(Candidate, task_row.candidate_id).status == "accepted"


def test_majority_and_tie_escalation(session: Session) -> None:
    (task,) = make_review_queue(session, n=1, overlap=2)
    a, b, c = (get_or_create_reviewer(session, n) for n in ("a", "b", "c"))
    submit_review(session, task, a, "accept")
    submit_review(session, task, b, "reject", "bland")
    row = session.get_one(ReviewTask, task)
    assert (row.status, row.overlap, row.required) == ("open", 2, 3)  # tie -> exactly one more reviewer
    submit_review(session, task, c, "reject", "off topic")
    assert row.status == "done" and session.get_one(Candidate, row.candidate_id).status == "rejected"


def test_changing_your_mind_updates_your_row_only(session: Session) -> None:
    (task,) = make_review_queue(session, n=1, overlap=3)
    a, b = get_or_create_reviewer(session, "a"), get_or_create_reviewer(session, "b")
    submit_review(session, task, a, "accept")
    submit_review(session, task, b, "accept")
    submit_review(session, task, a, "reject", "second thoughts")
    verdicts = dict(session.execute(select(Review.reviewer_id, Review.verdict)).all())
    assert verdicts == {a.id: "reject", b.id: "accept"}


def test_concurrent_reviewers_never_lose_a_verdict(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        (task,) = make_review_queue(s, n=1, overlap=8)
    names = [f"r{i}" for i in range(6)]
    with session_factory.begin() as s:
        for name in names:
            get_or_create_reviewer(s, name)

    def review(i: int) -> None:
        with write_transaction(session_factory) as s:
            reviewer = get_or_create_reviewer(s, names[i])
            submit_review(s, task, reviewer, "accept" if i else "reject", "because")

    assert [o for o in race(len(names), review) if isinstance(o, BaseException)] == []
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Review)) == len(names)


def test_ratings_upsert_and_finish_after_overlap(session: Session) -> None:
    t1, _ = make_rating_queue(session, n=2, overlap=2)
    a, b = get_or_create_reviewer(session, "a", "researcher"), get_or_create_reviewer(session, "b", "researcher")
    with pytest.raises(ValueError, match="missing rubric"):
        submit_ratings(session, t1, a, {"fluency": 3})
    with pytest.raises(ValueError, match="must be 1-5"):
        submit_ratings(session, t1, a, {**ALL_FOURS, "diversity": 7})
    submit_ratings(session, t1, a, ALL_FOURS)
    submit_ratings(session, t1, a, {**ALL_FOURS, "diversity": 2})  # update, not a second rater
    assert session.get_one(ReviewTask, t1).status == "open"
    submit_ratings(session, t1, b, ALL_FOURS)
    assert session.get_one(ReviewTask, t1).status == "done"
    assert session.scalar(select(func.count()).select_from(Rating)) == 2 * len(RUBRIC_KEYS)
    assert claim_next_task(session, a, "rating").id != t1


def test_late_verdict_after_decision_is_kept_and_counted(session: Session) -> None:
    (task,) = make_review_queue(session, n=1, overlap=1)
    a, b, c = (get_or_create_reviewer(session, n) for n in ("a", "b", "c"))
    submit_review(session, task, a, "accept")
    row = session.get_one(ReviewTask, task)
    assert row.status == "done" and session.get_one(Candidate, row.candidate_id).status == "accepted"
    submit_review(session, task, b, "reject", "not about the target")  # b's lock had expired; still stored
    assert (row.status, row.required) == ("open", 3)  # the late verdict made a 1-1 tie: reopened
    assert session.get_one(Candidate, row.candidate_id).status == "needs_review"
    submit_review(session, task, c, "reject", "bland")
    assert session.scalar(select(func.count()).select_from(Review)) == 3
    assert session.get_one(Candidate, row.candidate_id).status == "rejected"  # the majority of all verdicts


def test_retracting_ratings_removes_only_that_raters_rows_from_that_source_and_reopens(session: Session) -> None:
    from db.queries.review import retract_ratings, upsert_ratings

    t1, t2 = make_rating_queue(session, n=2, overlap=2)
    a, b = get_or_create_reviewer(session, "a", "researcher"), get_or_create_reviewer(session, "b", "researcher")
    task = session.get_one(ReviewTask, t1)
    submit_ratings(session, t1, a, ALL_FOURS, source="labelstudio")
    submit_ratings(session, t1, b, ALL_FOURS)
    submit_ratings(session, t2, a, ALL_FOURS, source="labelstudio")
    upsert_ratings(session, task.response_id, "judge", "llm", ALL_FOURS, source="labelstudio")
    assert (task.status, task.verdicts) == ("done", 2)
    assert retract_ratings(session, t1, a, "streamlit") is False            # a rated t1 in Label Studio, not here
    assert (task.status, task.verdicts) == ("done", 2)
    assert retract_ratings(session, t1, a, "labelstudio") is True
    assert (task.status, task.verdicts, task.decided_at) == ("open", 1, None)
    left = {(r.response_id, r.rater, r.rater_kind) for r in session.scalars(select(Rating))}
    t2_response = session.get_one(ReviewTask, t2).response_id
    assert left == {(task.response_id, "b", "human"), (task.response_id, "judge", "llm"), (t2_response, "a", "human")}
    assert retract_ratings(session, t1, a, "labelstudio") is False
    adjudication = make_review_queue(session, n=1)[0]
    with pytest.raises(ValueError, match=f"task {adjudication} is not a rating task"):
        retract_ratings(session, adjudication, a, "labelstudio")
    with pytest.raises(ValueError, match=f"task {adjudication} is not a rating task"):
        submit_ratings(session, adjudication, a, ALL_FOURS)


def test_leads_link_one_email_per_reviewer(session: Session) -> None:
    from db.queries.review import link_email, reviewers_by_email

    lead = get_or_create_reviewer(session, "lee", "lead")
    ann, bob = get_or_create_reviewer(session, "ann"), get_or_create_reviewer(session, "bob")
    assert reviewers_by_email(session) == {}
    assert link_email(session, " ann ", "  Ann@Example.ORG ", lead) is ann
    assert ann.email == "ann@example.org"
    with pytest.raises(ValueError, match="bob is a annotator; only active leads link accounts"):
        link_email(session, "ann", "x@example.org", bob)
    with pytest.raises(ValueError, match="not an email address: 'ann.example.org'"):
        link_email(session, "bob", "ann.example.org", lead)
    with pytest.raises(ValueError, match="ann@example.org is already linked to ann"):
        link_email(session, "bob", "ANN@example.org", lead)
    assert link_email(session, "ann", "ann@example.org", lead) is ann   # relinking the same address is fine
    link_email(session, "bob", "bob@example.org", lead)
    assert reviewers_by_email(session) == {"ann@example.org": ann, "bob@example.org": bob}
    assert bob.email == "bob@example.org"


def test_active_locks_count_only_unexpired_locks(session: Session) -> None:
    from db.queries.review import CLAIM_SECONDS, active_locks

    make_review_queue(session, n=3, overlap=1)
    reviewers = [get_or_create_reviewer(session, name) for name in ("a", "b", "c")]
    start = now_utc()
    for reviewer in reviewers:
        assert claim_next_task(session, reviewer, "adjudication", at=start) is not None
    assert active_locks(session, at=start) == 3
    assert active_locks(session) == 3
    assert active_locks(session, at=start + timedelta(seconds=CLAIM_SECONDS) - timedelta(seconds=1)) == 3
    assert active_locks(session, at=start + timedelta(seconds=CLAIM_SECONDS)) == 0  # a lock ends when it expires


def test_retraction_never_touches_an_llm_judge_that_shares_the_reviewers_name(session: Session) -> None:
    from db.queries.review import retract_ratings, upsert_ratings

    (task_id,) = make_rating_queue(session, n=1, overlap=1)
    a = get_or_create_reviewer(session, "a", "researcher")
    upsert_ratings(session, session.get_one(ReviewTask, task_id).response_id, "a", "llm", ALL_FOURS, source="import")
    assert retract_ratings(session, task_id, a, "import") is False
    assert session.scalar(select(func.count()).select_from(Rating)) == len(RUBRIC_KEYS)


def test_a_rating_task_without_a_response_is_refused(session: Session) -> None:
    from db.queries.review import retract_ratings

    orphan = ReviewTask(kind="rating", overlap=1)  # a malformed row: rating tasks score a response
    session.add(orphan)
    session.flush()
    a = get_or_create_reviewer(session, "a", "researcher")
    for action in (lambda: retract_ratings(session, orphan.id, a, "import"),
                   lambda: submit_ratings(session, orphan.id, a, ALL_FOURS)):
        with pytest.raises(ValueError, match=f"task {orphan.id} is not a rating task"):
            action()


def test_rating_releases_only_the_raters_own_lock_and_records_the_app_as_source(session: Session) -> None:
    from db.models import TaskLock

    t1, t2 = make_rating_queue(session, n=2, overlap=2)
    a, b = get_or_create_reviewer(session, "a", "researcher"), get_or_create_reviewer(session, "b", "researcher")
    assert claim_next_task(session, a, "rating").id == t1
    assert claim_next_task(session, b, "rating").id == t1  # overlap 2: both hold t1
    session.add(TaskLock(task_id=t2, reviewer_id=a.id, expires_at=now_utc() + timedelta(minutes=15)))
    session.flush()
    submit_ratings(session, t1, a, ALL_FOURS)
    locks = set(session.execute(select(TaskLock.task_id, TaskLock.reviewer_id)).all())
    assert locks == {(t1, b.id), (t2, a.id)}
    assert {r.source for r in session.scalars(select(Rating))} == {"streamlit"}


def test_my_verdicts_are_the_reviewers_own_newest_first_ties_by_latest_id(session: Session) -> None:
    from db.queries.review import my_verdicts

    t1, t2, t3, t4 = make_review_queue(session, n=4, overlap=2)
    a, b = get_or_create_reviewer(session, "a"), get_or_create_reviewer(session, "b")
    for task in (t1, t2, t3, t4):
        submit_review(session, task, a, "accept")
    submit_review(session, t2, b, "reject", "bland")
    now = now_utc()
    stamps = {t1: now - timedelta(hours=1), t2: now - timedelta(hours=3), t3: now - timedelta(hours=2),
              t4: now - timedelta(hours=2)}  # t3 and t4 at the same moment: the later verdict (t4) first
    for review in session.scalars(select(Review).where(Review.reviewer_id == a.id)):
        review.created_at = stamps[review.task_id]
    session.flush()
    rows = my_verdicts(session, a)
    assert [task.id for _, task, _ in rows] == [t1, t4, t3, t2]
    assert all(review.reviewer_id == a.id and candidate.id == task.candidate_id for review, task, candidate in rows)
    assert [task.id for _, task, _ in my_verdicts(session, a, limit=2)] == [t1, t4]
    assert [(r.verdict, t.id) for r, t, _ in my_verdicts(session, b)] == [("reject", t2)]


def test_my_verdicts_shows_the_200_newest_by_default(session: Session) -> None:
    from db.queries.review import my_verdicts

    tasks = make_review_queue(session, n=201, overlap=2)
    a = get_or_create_reviewer(session, "a")
    session.add_all(Review(task_id=t, reviewer_id=a.id, verdict="accept") for t in tasks)
    session.flush()
    rows = my_verdicts(session, a)
    assert len(rows) == 200 and {t.id for _, t, _ in rows} == set(tasks[1:])


def test_taking_back_the_last_human_rating_leaves_no_raters(session: Session) -> None:
    from db.queries.review import retract_ratings, upsert_ratings

    (t1,) = make_rating_queue(session, n=1, overlap=1)
    a = get_or_create_reviewer(session, "a", "researcher")
    task = session.get_one(ReviewTask, t1)
    upsert_ratings(session, task.response_id, "judge", "llm", ALL_FOURS, source="llm")  # an LLM rater is no reviewer
    submit_ratings(session, t1, a, ALL_FOURS)
    assert (task.status, task.verdicts) == ("done", 1)
    assert retract_ratings(session, t1, a, "streamlit") is True
    assert (task.status, task.verdicts, task.decided_at) == ("open", 0, None)


def test_undo_hands_the_task_back_to_its_reviewer_locked_and_needs_a_verdict_to_undo(session: Session) -> None:
    from db.models import TaskLock
    from db.queries.review import undo_verdict

    t1, t2 = make_review_queue(session, n=2, overlap=1)
    a, b = get_or_create_reviewer(session, "a"), get_or_create_reviewer(session, "b")
    assert undo_verdict(session, t1, a) is False  # nothing to undo: no lock handed out either
    assert session.scalar(select(func.count()).select_from(TaskLock)) == 0
    submit_review(session, t1, a, "accept")
    before = now_utc()
    assert undo_verdict(session, t1, a, claim_seconds=900) is True
    lock = session.scalar(select(TaskLock).where(TaskLock.task_id == t1))
    assert lock is not None and lock.reviewer_id == a.id
    expires = lock.expires_at if lock.expires_at.tzinfo else lock.expires_at.replace(tzinfo=before.tzinfo)
    assert before + timedelta(minutes=14) < expires <= now_utc() + timedelta(minutes=15)
    assert claim_next_task(session, b, "adjudication").id == t2  # t1 is a's again
    assert claim_next_task(session, a, "adjudication").id == t1


@pytest.mark.parametrize("bad", [0, 6, -1])
def test_a_rating_outside_1_to_5_is_refused_on_both_sides_and_nothing_is_stored(session: Session, bad: int) -> None:
    (t1,) = make_rating_queue(session, n=1, overlap=1)
    a = get_or_create_reviewer(session, "a", "researcher")
    with pytest.raises(ValueError, match=f"informativeness must be 1-5, got {bad}"):
        submit_ratings(session, t1, a, {**ALL_FOURS, "informativeness": bad})
    session.flush()
    assert session.scalar(select(func.count()).select_from(Rating)) == 0  # not even the rubric before it
    submit_ratings(session, t1, a, {**ALL_FOURS, "informativeness": 1, "diversity": 5})
    assert sorted(r.score for r in session.scalars(select(Rating))) == sorted([4, 4, 4, 1, 5])


def test_missing_rubrics_are_named_in_one_line(session: Session) -> None:
    (t1,) = make_rating_queue(session, n=1, overlap=1)
    a = get_or_create_reviewer(session, "a", "researcher")
    scores = {k: 3 for k in RUBRIC_KEYS if k not in ("informativeness", "diversity")}
    with pytest.raises(ValueError) as error:
        submit_ratings(session, t1, a, scores)
    assert str(error.value) == "missing rubric score(s): informativeness, diversity"


def test_open_task_count_counts_open_tasks_of_that_kind_only(session: Session) -> None:
    from db.queries.review import open_task_count

    t1, _, _ = make_review_queue(session, n=3, overlap=1)
    make_rating_queue(session, n=2, overlap=1)
    submit_review(session, t1, get_or_create_reviewer(session, "a"), "accept")
    assert (open_task_count(session, "adjudication"), open_task_count(session, "rating")) == (2, 2)
    assert open_task_count(session, "other") == 0


@pytest.mark.parametrize(("name", "role", "message"), [
    ("  ", "annotator", "reviewer name is blank"),
    ("dana", "admin", "role must be one of annotator, researcher, lead"),
])
def test_a_bad_reviewer_is_refused_in_one_line(session: Session, name: str, role: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        get_or_create_reviewer(session, name, role)
    assert str(error.value) == message


@pytest.mark.parametrize(("verdict", "reason", "turns", "message"), [
    ("maybe", "", None, "verdict must be one of accept, reject, edit"),
    ("reject", " ", None, "a reason is required to reject"),
    ("edit", "", EDITED_TURNS, "a reason is required to edit"),
    ("edit", "tone", None, "an edit needs the edited dialogue"),
    ("edit", "tone", [], "an edit needs the edited dialogue"),
])
def test_a_malformed_verdict_is_refused_in_one_line_and_nothing_is_stored(
        session: Session, verdict: str, reason: str, turns: list[dict[str, str]] | None, message: str) -> None:
    (task,) = make_review_queue(session, n=1, overlap=1)
    with pytest.raises(ValueError) as error:
        submit_review(session, task, get_or_create_reviewer(session, "a"), verdict, reason, turns)
    assert str(error.value) == message
    assert session.scalar(select(func.count()).select_from(Review)) == 0


def test_a_verdict_on_a_rating_task_is_refused_by_name(session: Session) -> None:
    (rating_task,) = make_rating_queue(session, n=1, overlap=1)
    with pytest.raises(ValueError) as error:
        submit_review(session, rating_task, get_or_create_reviewer(session, "a"), "accept")
    assert str(error.value) == f"task {rating_task} is a rating task, not an adjudication"


def test_a_verdict_releases_only_its_reviewers_lock_on_that_task_and_records_the_app_as_source(session: Session) -> None:
    from db.models import TaskLock
    from db.queries.review import set_lock

    t1, t2 = make_review_queue(session, n=2, overlap=2)
    alice, bob = get_or_create_reviewer(session, "alice"), get_or_create_reviewer(session, "bob")
    expires = now_utc() + timedelta(minutes=15)
    set_lock(session, t2, alice.id, expires)  # older locks first: a wrong lookup would find them first
    set_lock(session, t1, bob.id, expires)
    set_lock(session, t1, alice.id, expires)
    review = submit_review(session, t1, alice, "accept")
    assert review.source == "streamlit"
    locks = sorted(tuple(row) for row in session.execute(select(TaskLock.task_id, TaskLock.reviewer_id)))
    assert locks == sorted([(t1, bob.id), (t2, alice.id)])


def test_a_verdict_on_a_missing_task_names_it(session: Session) -> None:
    from db.errors import NotFound

    with pytest.raises(NotFound) as error:
        submit_review(session, 999, get_or_create_reviewer(session, "a"), "accept")
    assert str(error.value) == "no review task 999"


def test_a_verdict_decides_on_the_task_as_committed_whatever_this_session_read_before(
        session_factory: sessionmaker[Session]) -> None:
    """Writer sessions keep objects across commits (expire_on_commit=False): the row lock must re-read the task."""
    from db.engine import writer_factory
    from db.models import Reviewer

    with session_factory() as s:
        (task,) = make_review_queue(s, n=1, overlap=2)
    mine = writer_factory(session_factory)()
    with mine.begin():
        seen = mine.get_one(ReviewTask, task)
        carol = get_or_create_reviewer(mine, "carol")
    assert (seen.tied, seen.verdicts) == (False, 0)
    with write_transaction(session_factory) as other:  # meanwhile: a 1-1 tie
        a, b = get_or_create_reviewer(other, "a"), get_or_create_reviewer(other, "b")
        submit_review(other, task, a, "accept")
        submit_review(other, task, b, "reject", "bland")
    with mine.begin():
        submit_review(mine, task, mine.get_one(Reviewer, carol.id), "reject", "off topic")
        assert (seen.status, seen.verdicts, seen.tied, seen.decision) == ("done", 3, True, "adjudicated")
    mine.close()


def test_progress_counts_what_a_reviewer_did_since_midnight_and_in_all(session: Session) -> None:
    from datetime import datetime, timezone

    from db.queries.review import reviewer_progress, upsert_ratings

    at = datetime(2026, 11, 23, 10, 30, 15, 500000, tzinfo=timezone.utc)
    midnight = datetime(2026, 11, 23, tzinfo=timezone.utc)
    times = [midnight - timedelta(microseconds=1), midnight, midnight + timedelta(hours=9)]
    t1, t2, t3, t4 = make_review_queue(session, n=4, overlap=2)  # one verdict each: all still open
    alice, bob = get_or_create_reviewer(session, "alice"), get_or_create_reviewer(session, "bob")
    for task, when in zip((t1, t2, t3), times):
        submit_review(session, task, alice, "accept").created_at = when
    submit_review(session, t4, bob, "accept").created_at = midnight
    session.flush()
    assert reviewer_progress(session, alice, "adjudication", at=at) == {"today": 2, "total": 3, "left_for_you": 1}

    rating_tasks = make_rating_queue(session, n=4, overlap=2)
    responses = [session.get_one(ReviewTask, t).response_id for t in rating_tasks]
    for response_id, when in zip(responses, times):
        upsert_ratings(session, response_id, "alice", "human", ALL_FOURS, "streamlit")
        session.flush()
        for row in session.scalars(select(Rating).where(Rating.response_id == response_id)):
            row.created_at = when
    upsert_ratings(session, responses[2], "bob", "human", ALL_FOURS, "streamlit")  # someone else, today
    upsert_ratings(session, responses[3], "alice", "llm", ALL_FOURS, "judge")  # a judge under her name, today
    session.flush()
    assert reviewer_progress(session, alice, "rating", at=at) == {"today": 2, "total": 3, "left_for_you": 1}
    assert reviewer_progress(session, bob, "rating", at=at) == {"today": 1, "total": 1, "left_for_you": 3}
    newcomer = get_or_create_reviewer(session, "erin", "researcher")
    assert reviewer_progress(session, newcomer, "rating", at=at) == {"today": 0, "total": 0, "left_for_you": 4}
    assert reviewer_progress(session, newcomer, "adjudication", at=at) == {"today": 0, "total": 0, "left_for_you": 4}


def test_a_reviewer_whose_lock_expired_claims_the_task_again_with_one_fresh_lock(session: Session) -> None:
    from db.models import TaskLock

    (t1,) = make_review_queue(session, n=1, overlap=1)
    alice = get_or_create_reviewer(session, "alice")
    at = now_utc()
    assert claim_next_task(session, alice, "adjudication", at=at, claim_seconds=900).id == t1
    later = at + timedelta(minutes=15)  # the moment it expires: claimed afresh, not resumed
    assert claim_next_task(session, alice, "adjudication", at=later, claim_seconds=900).id == t1
    (lock,) = session.scalars(select(TaskLock))
    assert lock.expires_at.replace(tzinfo=None) == (later + timedelta(minutes=15)).replace(tzinfo=None)


def test_nobody_is_offered_a_task_they_finished_and_everyone_else_still_is(session: Session) -> None:
    from db.queries.review import upsert_ratings

    t1, t2 = make_review_queue(session, n=2, overlap=2)
    alice, bob = get_or_create_reviewer(session, "alice"), get_or_create_reviewer(session, "bob")
    submit_review(session, t1, alice, "accept")
    assert claim_next_task(session, alice, "adjudication").id == t2  # t1 still has a free slot, but not for her
    assert claim_next_task(session, bob, "adjudication").id == t1

    r1, r2 = make_rating_queue(session, n=2, overlap=2)
    carol, dan = get_or_create_reviewer(session, "carol", "researcher"), get_or_create_reviewer(session, "dan", "researcher")
    submit_ratings(session, r1, carol, ALL_FOURS)
    upsert_ratings(session, session.get_one(ReviewTask, r1).response_id, "dan", "llm", ALL_FOURS, "judge")
    assert claim_next_task(session, carol, "rating").id == r2
    assert claim_next_task(session, dan, "rating").id == r1  # a judge sharing his name did not rate for him


def test_a_lock_that_expires_at_the_moment_of_a_claim_no_longer_holds_the_task(session: Session) -> None:
    (t1,) = make_review_queue(session, n=1, overlap=1)
    alice, bob = get_or_create_reviewer(session, "alice"), get_or_create_reviewer(session, "bob")
    at = now_utc()
    assert claim_next_task(session, alice, "adjudication", at=at, claim_seconds=900).id == t1
    assert claim_next_task(session, bob, "adjudication", at=at + timedelta(minutes=15) - timedelta(microseconds=1)) is None
    assert claim_next_task(session, bob, "adjudication", at=at + timedelta(minutes=15)).id == t1


def test_a_task_decided_while_someone_held_it_is_not_handed_back_to_them(session: Session) -> None:
    t1, t2 = make_review_queue(session, n=2, overlap=1)
    alice, bob = get_or_create_reviewer(session, "alice"), get_or_create_reviewer(session, "bob")
    assert claim_next_task(session, alice, "adjudication").id == t1
    submit_review(session, t1, bob, "accept")  # bob's verdict came another way (a stale tab, Label Studio)
    assert session.get_one(ReviewTask, t1).status == "done"
    assert claim_next_task(session, alice, "adjudication").id == t2  # not her lock on the decided t1


def test_a_reviewer_resumes_the_task_she_holds_before_any_older_free_one_but_not_one_whose_hold_expired(
        session: Session) -> None:
    from db.queries.review import set_lock

    t1, t2, t3 = make_review_queue(session, n=3, overlap=2)
    alice, carol = get_or_create_reviewer(session, "alice"), get_or_create_reviewer(session, "carol")
    at = now_utc()
    set_lock(session, t3, alice.id, at + timedelta(minutes=15))
    set_lock(session, t2, alice.id, at + timedelta(minutes=15))  # two held (an undo hands one back): lowest id first
    set_lock(session, t1, carol.id, at + timedelta(minutes=15))  # t1 is older and still has a free slot
    assert claim_next_task(session, alice, "adjudication", at=at).id == t2
    assert claim_next_task(session, alice, "adjudication", at=at + timedelta(minutes=20)).id == t1  # holds expired


def test_skipped_tasks_are_left_out_of_the_claim(session: Session) -> None:
    t1, t2 = make_review_queue(session, n=2, overlap=1)
    alice = get_or_create_reviewer(session, "alice")
    assert claim_next_task(session, alice, "adjudication", skip=(t1,)).id == t2
    assert claim_next_task(session, alice, "adjudication", skip=(t1, t2)) is None
    assert claim_next_task(session, alice, "adjudication").id == t2  # her own hold first, skip or not
