"""Drafts, guidelines, claims that follow the person, N/A ratings and the reviewer's counts, on SQLite and PostgreSQL,
with the races two tabs or two leads can run."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.engine import write_transaction
from db.errors import Conflict
from db.models import Draft, Guideline, Rating, Reviewer, TaskLock
from db.queries.accounts import close_web_session, create_account, open_web_session, set_active, set_role
from db.queries.dashboard import all_ratings
from db.queries.drafts import MAX_FIELD_CHARS, delete_draft, get_draft, save_draft_field
from db.queries.guidelines import current_guidelines, save_guidelines
from db.queries.review import (
    can_work,
    claim_next_task,
    get_or_create_reviewer,
    my_ratings,
    now_utc,
    renew_claim,
    reviewer_progress,
    submit_ratings,
    upsert_ratings,
)
from db.rubrics import RUBRIC_KEYS
from tests.factories import make_rating_queue, make_review_queue, race

PASSWORD = "a long enough password"


def people(factory: sessionmaker[Session]) -> dict[str, int]:
    with write_transaction(factory) as s:
        lead = create_account(s, "lea", "lead", PASSWORD, by=None)
        return {"lea": lead.id, **{name: create_account(s, name, role, PASSWORD, by=lead).id
                                   for name, role in (("ann", "annotator"), ("bob", "annotator"),
                                                      ("rita", "researcher"), ("leo", "lead"))}}


def test_a_draft_keeps_each_field_until_the_verdict(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        (task,) = make_review_queue(s, n=1)
    ids = people(session_factory)
    with write_transaction(session_factory) as s:
        save_draft_field(s, ids["ann"], task, "reason", "too long")
        save_draft_field(s, ids["ann"], task, "edited", "Seeker: hi")
        save_draft_field(s, ids["ann"], task, "reason", "too short")
        save_draft_field(s, ids["bob"], task, "reason", "bob's own")
    with session_factory() as s:
        assert get_draft(s, ids["ann"], task) == {"reason": "too short", "edited": "Seeker: hi"}
        assert get_draft(s, ids["bob"], task) == {"reason": "bob's own"}  # one draft per person and task
    with write_transaction(session_factory) as s:
        save_draft_field(s, ids["ann"], task, "edited", None)  # a field cleared
        with pytest.raises(ValueError, match="over 100,000 characters"):
            save_draft_field(s, ids["ann"], task, "reason", "x" * (MAX_FIELD_CHARS + 1))
    with write_transaction(session_factory) as s:
        assert get_draft(s, ids["ann"], task) == {"reason": "too short"}
        delete_draft(s, ids["ann"], task)
    with session_factory() as s:
        assert get_draft(s, ids["ann"], task) == {} and s.scalar(select(func.count()).select_from(Draft)) == 1


def test_two_tabs_saving_their_first_fields_at_once_keep_one_draft_with_both(
        session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        (task,) = make_review_queue(s, n=1)
    ann = people(session_factory)["ann"]
    fields = [f"field{i}" for i in range(6)]

    def save(i: int) -> None:
        with write_transaction(session_factory) as s:
            save_draft_field(s, ann, task, fields[i], f"value {i}")

    assert [o for o in race(len(fields), save) if isinstance(o, BaseException)] == []
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Draft)) == 1
        assert get_draft(s, ann, task) == {f: f"value {i}" for i, f in enumerate(fields)}  # no field lost


def test_guidelines_are_versioned_by_leads_only(session_factory: sessionmaker[Session]) -> None:
    ids = people(session_factory)
    with session_factory() as s:
        default = current_guidelines(s)
    assert default.version == 0 and "Accept" in default.text and "N/A" in default.text
    with write_transaction(session_factory) as s:
        first = save_guidelines(s, "  Reject what never names its movie.  ", s.get_one(Reviewer, ids["lea"]))
        again = save_guidelines(s, "Reject what never names its movie.", s.get_one(Reviewer, ids["leo"]))
        for who, text, message in ((ids["ann"], "x", "only leads"), (ids["lea"], " \n ", "empty"),
                                   (ids["lea"], "a\x00b", "under 50,000")):
            with pytest.raises(ValueError, match=message):
                save_guidelines(s, text, s.get_one(Reviewer, who))
    assert (first.version, first.text, first.created_by) == (1, "Reject what never names its movie.", "lea")
    assert again == first  # the same text makes no new version
    with session_factory() as s:
        assert current_guidelines(s) == first


def test_two_leads_saving_guidelines_at_once_never_share_a_version(session_factory: sessionmaker[Session]) -> None:
    ids = people(session_factory)
    leads = [ids["lea"], ids["leo"]] * 3

    def save(i: int) -> int:
        with write_transaction(session_factory) as s:
            return save_guidelines(s, f"text {i}", s.get_one(Reviewer, leads[i])).version

    outcomes = race(len(leads), save)
    assert all(isinstance(o, int) or isinstance(o, Conflict) for o in outcomes), outcomes
    saved = [o for o in outcomes if isinstance(o, int)]
    with session_factory() as s:
        rows = [(g.version, g.text) for g in s.scalars(select(Guideline).order_by(Guideline.version))]
    assert [v for v, _ in rows] == list(range(1, len(rows) + 1)) and sorted(saved) == [v for v, _ in rows]
    assert len({text for _, text in rows}) == len(rows)  # every version holds the text of the save that made it


def test_a_claim_is_renewed_by_its_page_and_lapses_without_it(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        (task,) = make_review_queue(s, n=1)
    ids = people(session_factory)
    start = now_utc()
    with write_transaction(session_factory) as s:
        ann, bob = s.get_one(Reviewer, ids["ann"]), s.get_one(Reviewer, ids["bob"])
        assert claim_next_task(s, ann, "adjudication", at=start, claim_seconds=8).id == task
        assert renew_claim(s, task, ann.id, at=start + timedelta(seconds=6), claim_seconds=8)  # before it lapses
        assert claim_next_task(s, bob, "adjudication", at=start + timedelta(seconds=12)) is None  # renewed to 14 s
        assert not renew_claim(s, task, ann.id, at=start + timedelta(seconds=15), claim_seconds=8)  # lapsed
        assert claim_next_task(s, bob, "adjudication", at=start + timedelta(seconds=15)).id == task
        assert not renew_claim(s, task, ids["rita"], at=start)  # nothing to renew


def test_sign_out_a_role_change_and_disabling_give_every_claim_back(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        make_review_queue(s, n=3)
        make_rating_queue(s, n=2, overlap=1)
    ids = people(session_factory)

    def claim(name: str, kind: str) -> None:
        with write_transaction(session_factory) as s:
            assert claim_next_task(s, s.get_one(Reviewer, ids[name]), kind) is not None

    def held() -> dict[str, int]:
        with session_factory() as s:
            rows = s.execute(select(Reviewer.name, func.count()).join(TaskLock, TaskLock.reviewer_id == Reviewer.id)
                             .group_by(Reviewer.name)).all()
        return {name: int(n) for name, n in rows}

    for name, kind in (("ann", "adjudication"), ("bob", "adjudication"), ("lea", "adjudication"),
                       ("lea", "rating")):
        claim(name, kind)
    assert held() == {"ann": 1, "bob": 1, "lea": 2}  # lea works both queues: a review task and a rating task
    with write_transaction(session_factory) as s:
        token = open_web_session(s, s.get_one(Reviewer, ids["ann"]))
    with write_transaction(session_factory) as s:
        close_web_session(s, token)
    assert "ann" not in held()
    with write_transaction(session_factory) as s:
        set_role(s, "bob", "researcher", by=s.get_one(Reviewer, ids["lea"]))
        set_role(s, "lea", "lead", by=s.get_one(Reviewer, ids["leo"]))  # the same role: claims kept
    assert held() == {"lea": 2}
    with write_transaction(session_factory) as s:
        set_active(s, "lea", False, by=s.get_one(Reviewer, ids["leo"]))
    assert held() == {}


def test_who_works_which_queue() -> None:
    assert [can_work(role, "adjudication") for role in ("annotator", "researcher", "lead")] == [True, False, True]
    assert [can_work(role, "rating") for role in ("annotator", "researcher", "lead")] == [False, True, True]
    assert not can_work("lead", "unknown")


def test_left_for_you_does_not_count_tasks_others_hold(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        make_review_queue(s, n=3)
    ids = people(session_factory)
    with write_transaction(session_factory) as s:
        ann, bob = s.get_one(Reviewer, ids["ann"]), s.get_one(Reviewer, ids["bob"])
        claim_next_task(s, ann, "adjudication")
        assert reviewer_progress(s, bob, "adjudication")["left_for_you"] == 2  # ann's task is not bob's to take
        assert reviewer_progress(s, ann, "adjudication")["left_for_you"] == 3  # her own claim still counts


def test_n_a_is_stored_as_such_and_left_out_of_agreement(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        t1, t2 = make_rating_queue(s, n=2, overlap=1)
    with write_transaction(session_factory) as s:
        rita = get_or_create_reviewer(s, "rita", "researcher")
        scores: dict[str, int | None] = {key: 4 for key in RUBRIC_KEYS}
        submit_ratings(s, t1, rita, {**scores, "diversity": None})
        with pytest.raises(ValueError, match="every rubric is N/A"):
            submit_ratings(s, t2, rita, {key: None for key in RUBRIC_KEYS})
        with pytest.raises(ValueError, match="only a human rater may mark a rubric N/A"):
            upsert_ratings(s, 2, "judge-1", "llm", {**scores, "fluency": None, "diversity": None}, "llm")
        with pytest.raises(ValueError, match="must be 1-5, got 6"):
            submit_ratings(s, t2, rita, {**scores, "diversity": 6})
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Rating).where(Rating.score.is_(None))) == 1
        assert sorted(r[3] for r in all_ratings(s)) == sorted(k for k in RUBRIC_KEYS if k != "diversity")
        ((task, mine),) = my_ratings(s, s.get_one(Reviewer, rita.id))
        assert task.id == t1 and mine == {**scores, "diversity": None} and task.status == "done"
