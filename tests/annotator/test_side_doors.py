"""Who may act: every action re-reads its account (disabled or demoted after the page was drawn: refused), the last
lead survives two leads changing each other at once (threads, both backends), sign-in costs the same for unknown
and known names and backs off per name, and a changed verdict keeps what it should."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

import db.queries.accounts as accounts
from annotator.ui_export import export_now
from db.engine import write_transaction
from db.models import DatasetExport, Review, Reviewer, SignInFailure
from db.queries.accounts import (
    AccessDenied,
    acting_reviewer,
    authenticate,
    create_account,
    lead_count,
    open_web_session,
    set_active,
    set_role,
)
from db.queries.review import get_or_create_reviewer, now_utc, submit_review
from lumicrs_cli import app
from tests.factories import make_review_queue, race

PW = "a long enough password"


def two_leads(session_factory: sessionmaker[Session]) -> None:
    with write_transaction(session_factory) as s:
        lee = create_account(s, "lee", "lead", PW, by=None)
        create_account(s, "liv", "lead", PW, by=lee)
        create_account(s, "ann", "annotator", PW, by=lee)


def test_an_action_re_reads_the_account_behind_the_page(session: Session) -> None:
    lead = create_account(session, "lee", "lead", PW, by=None)
    ann = create_account(session, "ann", "annotator", PW, by=lead)
    token = open_web_session(session, ann)
    assert acting_reviewer(session, token, ann.id).name == "ann"
    with pytest.raises(AccessDenied, match="only a lead can do this; your account is now a annotator"):
        acting_reviewer(session, token, ann.id, role="lead")
    with pytest.raises(AccessDenied, match="session has ended"):
        acting_reviewer(session, token, lead.id)  # a token of someone else than the page was drawn for
    with pytest.raises(AccessDenied, match="session has ended"):
        acting_reviewer(session, None, ann.id)
    set_active(session, "ann", False, by=lead)  # after the page rendered
    with pytest.raises(AccessDenied, match="session has ended or your account was disabled"):
        acting_reviewer(session, token, ann.id)


def test_a_lead_disabled_or_demoted_after_the_page_rendered_cannot_export(
        session_factory: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from db.settings import get_settings

    monkeypatch.setenv("LUMICRS_EXPORT_DIR", str(tmp_path))
    get_settings.cache_clear()
    with session_factory() as s:
        tasks = make_review_queue(s, n=2)
    with write_transaction(session_factory) as s:
        lee = create_account(s, "lee", "lead", PW, by=None)
        liv = create_account(s, "liv", "lead", PW, by=lee)
        for task in tasks:
            submit_review(s, task, get_or_create_reviewer(s, "ann"), "accept")
        token, liv_id = open_web_session(s, liv), liv.id
        set_role(s, "liv", "researcher", by=lee)
    kind, message = export_now(token, liv_id, "toy", "after-demotion")
    assert kind == "error" and message == "only a lead can do this; your account is now a researcher"
    with write_transaction(session_factory) as s:
        set_role(s, "liv", "lead", by=s.scalars(select(Reviewer).where(Reviewer.name == "lee")).one())
        token = open_web_session(s, s.get_one(Reviewer, liv_id))
        set_active(s, "liv", False, by=s.scalars(select(Reviewer).where(Reviewer.name == "lee")).one())
    assert export_now(token, liv_id, "toy", "after-disable")[0] == "error"
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(DatasetExport)) == 0


def test_export_by_a_disabled_lead_from_the_cli_is_refused(session_factory: sessionmaker[Session], database_url: str,
                                                           tmp_path: Path) -> None:
    two_leads(session_factory)
    with write_transaction(session_factory) as s:
        set_active(s, "liv", False, by=s.scalars(select(Reviewer).where(Reviewer.name == "lee")).one())
    result = CliRunner().invoke(app, ["export", "--name", "x", "--by", "liv", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "liv's account is disabled; only active leads can export datasets" in result.output


CHANGES = {
    "demote each other": [("lee", "role", "liv"), ("liv", "role", "lee")],
    "disable each other": [("lee", "disable", "liv"), ("liv", "disable", "lee")],
    "demote themselves": [("lee", "role", "lee"), ("liv", "role", "liv")],
    "one demotes, one disables": [("lee", "role", "liv"), ("liv", "disable", "lee")],
}


@pytest.mark.parametrize("kind", list(CHANGES))
def test_two_leads_changing_each_other_at_once_leave_a_lead(session_factory: sessionmaker[Session], kind: str) -> None:
    two_leads(session_factory)

    def change(i: int) -> str:
        actor, action, target = CHANGES[kind][i]
        with write_transaction(session_factory) as s:
            by = s.scalars(select(Reviewer).where(Reviewer.name == actor)).one()
            if action == "role":
                set_role(s, target, "annotator", by=by)
            else:
                set_active(s, target, False, by=by)
        return "done"

    outcomes = race(2, change)
    assert outcomes.count("done") == 1, outcomes
    (refusal,) = [o for o in outcomes if o != "done"]
    assert isinstance(refusal, ValueError) and ("last lead" in str(refusal) or "only an active lead" in str(refusal))
    with session_factory() as s:
        assert lead_count(s) == 1


def test_unknown_and_known_names_cost_one_argon2_verification(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    create_account(session, "lee", "lead", PW, by=None)
    calls: list[str] = []
    real = accounts.HASHER

    class Counting:
        def hash(self, password: str) -> str:
            return real.hash(password)

        def verify(self, stored: str, password: str) -> bool:
            calls.append(stored)
            return real.verify(stored, password)

    monkeypatch.setattr(accounts, "HASHER", Counting())
    for name in ("lee", "nobody"):
        with pytest.raises(AccessDenied, match="unknown name, wrong password or disabled account"):
            authenticate(session, name, "wrong password")
    assert len(calls) == 2 and all(c.startswith("$argon2id$") for c in calls)


@pytest.mark.parametrize("name", ["lee", "nobody"])
def test_repeated_failures_back_off_per_name(session: Session, name: str) -> None:
    create_account(session, "lee", "lead", PW, by=None)
    start = now_utc()
    for attempt in range(accounts.FREE_ATTEMPTS):
        with pytest.raises(AccessDenied, match="unknown name"):
            authenticate(session, name, "wrong password", at=start + timedelta(seconds=attempt))
    last = start + timedelta(seconds=accounts.FREE_ATTEMPTS - 1)
    with pytest.raises(AccessDenied, match=r"too many failed sign-ins for this name: try again in 2 s"):
        authenticate(session, name, PW, at=last + timedelta(milliseconds=100))  # even the right password waits
    with pytest.raises(AccessDenied, match="unknown name"):
        authenticate(session, name, "wrong again", at=last + timedelta(seconds=3))
    with pytest.raises(AccessDenied, match="try again in 4 s"):
        authenticate(session, name, PW, at=last + timedelta(seconds=3, milliseconds=100))
    assert session.get_one(SignInFailure, name).failures == accounts.FREE_ATTEMPTS + 1
    with pytest.raises(AccessDenied, match="unknown name, wrong password or disabled account"):
        authenticate(session, "someone else", "x")  # other names are not slowed down
    if name == "lee":
        assert authenticate(session, "lee", PW, at=last + timedelta(seconds=8)).name == "lee"
        assert session.get_one(SignInFailure, "lee").failures == accounts.FREE_ATTEMPTS + 1  # a success is not one
    assert accounts.backoff_seconds(100) == accounts.MAX_BACKOFF_SECONDS


def test_the_owners_sign_in_gives_a_guesser_no_fresh_attempts(session: Session) -> None:
    """Four wrong passwords, then the owner signs in: the guesser has one free attempt left, not five."""
    create_account(session, "lee", "lead", PW, by=None)
    start = now_utc()
    for attempt in range(accounts.FREE_ATTEMPTS - 1):
        with pytest.raises(AccessDenied, match="unknown name"):
            authenticate(session, "lee", "wrong password", at=start + timedelta(seconds=attempt))
    assert authenticate(session, "lee", PW, at=start + timedelta(seconds=5)).name == "lee"
    assert session.get_one(SignInFailure, "lee").failures == accounts.FREE_ATTEMPTS - 1
    with pytest.raises(AccessDenied, match="unknown name"):
        authenticate(session, "lee", "wrong password", at=start + timedelta(seconds=6))
    with pytest.raises(AccessDenied, match="try again in 2 s"):
        authenticate(session, "lee", "wrong password", at=start + timedelta(seconds=6, milliseconds=100))


def test_a_changed_verdict_keeps_its_time_and_earlier_edit_and_updates_reason_and_source(session: Session) -> None:
    (task,) = make_review_queue(session, n=1, overlap=2)
    ann = get_or_create_reviewer(session, "ann")
    edited = [{"role": "seeker", "text": "hi"}, {"role": "recommender", "text": "Tail Film!"}]
    first = submit_review(session, task, ann, "edit", "typo", edited)
    session.expire_all()
    created = session.get_one(Review, first.id).created_at  # as the database gives it back
    changed = submit_review(session, task, ann, "reject", "off-topic after all", None, source="labelstudio")
    session.expire_all()
    row = session.scalars(select(Review).where(Review.task_id == task)).one()
    assert (row.verdict, row.reason, row.source) == ("reject", "off-topic after all", "labelstudio")
    assert row.edited_turns == edited and row.created_at == created and changed.id == first.id
    again = submit_review(session, task, ann, "edit", "typo again", row.edited_turns)
    assert again.verdict == "edit" and again.edited_turns == edited


def test_an_attempt_that_started_before_the_recorded_failure_is_not_backed_off(session: Session) -> None:
    """Two attempts at once: the one that took the lock second may carry the earlier clock reading. Within the free
    attempts that is never a back-off (it was, for 1 ms: the race test below failed now and then)."""
    create_account(session, "lee", "lead", PW, by=None)
    start = now_utc()
    with pytest.raises(AccessDenied, match="unknown name"):
        authenticate(session, "lee", "wrong password", at=start)
    with pytest.raises(AccessDenied, match="unknown name"):
        authenticate(session, "lee", "wrong password", at=start - timedelta(milliseconds=1))
    assert session.get_one(SignInFailure, "lee").failures == 2


def test_failed_sign_ins_at_once_for_one_new_name_are_all_counted(session_factory: sessionmaker[Session]) -> None:
    """Two wrong passwords for a name nobody has failed before, at the same moment: both counted, no error leaks."""
    with write_transaction(session_factory) as s:
        create_account(s, "lee", "lead", PW, by=None)

    def fail(_: int) -> str:
        with write_transaction(session_factory) as s:
            try:
                authenticate(s, "lee", "wrong password")
            except AccessDenied as exc:
                return str(exc)
        return "signed in"

    outcomes = race(2, fail)
    assert outcomes == ["unknown name, wrong password or disabled account"] * 2, outcomes
    with session_factory() as s:
        assert s.get_one(SignInFailure, "lee").failures == 2
