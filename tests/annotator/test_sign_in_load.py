"""Sign-in under load (issue 50), with real threads on SQLite and PostgreSQL: attempts at once for one name check at
most FREE_ATTEMPTS passwords, failed sign-ins never make a reviewer's verdict fail, the failure table is pruned, and
one client address is limited across names."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.engine import write_transaction
from db.models import Review, Reviewer, SignInFailure, WebSession
from db.queries import accounts
from db.queries.accounts import AccessDenied, create_account, sign_in
from db.queries.review import get_or_create_reviewer, now_utc, submit_review
from tests.factories import make_review_queue, race

PW = "the right password"


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password verification, counted (the real argon2 does the work)."""
    calls: list[str] = []
    real = accounts.HASHER
    lock = threading.Lock()

    class Counting:
        def hash(self, password: str) -> str:
            return real.hash(password)

        def verify(self, stored: str, password: str) -> bool:
            with lock:
                calls.append(password)
            return real.verify(stored, password)

    monkeypatch.setattr(accounts, "HASHER", Counting())
    return calls


def test_twenty_sign_ins_at_once_for_one_name_check_at_most_the_free_attempts(
        session_factory: sessionmaker[Session], checked: list[str]) -> None:
    with write_transaction(session_factory) as s:
        create_account(s, "lee", "lead", PW, by=None)
    checked.clear()
    passwords = ["wrong password"] * 19 + [PW]

    def attempt(i: int) -> str:
        try:
            sign_in(session_factory, "lee", passwords[i])
        except AccessDenied as exc:
            return str(exc)
        return "signed in"

    outcomes = race(len(passwords), attempt)
    assert all(isinstance(o, str) for o in outcomes), outcomes
    wrong = checked.count("wrong password")
    # the rest waited: they were counted before any was checked, and the owner's success gave back only its own count
    assert wrong <= accounts.FREE_ATTEMPTS and len(checked) - wrong <= 1
    refused = [o for o in outcomes if o.startswith("too many failed sign-ins for this name")]
    assert len(refused) == len(passwords) - len(checked)
    with session_factory() as s:
        sessions = s.scalar(select(func.count()).select_from(WebSession))
        failures = s.get(SignInFailure, "lee")
    assert sessions == outcomes.count("signed in") == len(checked) - wrong
    assert (failures.failures if failures is not None else 0) == wrong  # every wrong password checked is counted


def test_a_lab_signing_in_from_one_address_never_waits(session_factory: sessionmaker[Session]) -> None:
    """More reviewers than the address's free attempts sign in from one address with the right password, in waves
    of ten at once: every one gets a session, and after each wave the address's counter is back to zero (a success
    is not a failure; attempts in flight together do count, so a wave stays under the free attempts)."""
    wave = 10
    names = [f"reviewer-{n}" for n in range(3 * wave)]
    assert len(names) > accounts.FREE_CLIENT_ATTEMPTS > wave
    with write_transaction(session_factory) as s:
        for name in names:
            create_account(s, name, "annotator", PW, by=None)

    for first in range(0, len(names), wave):
        def attempt(i: int, first: int = first) -> str:
            try:
                return "signed in" if sign_in(session_factory, names[first + i], PW, client="10.0.0.9") else "none"
            except AccessDenied as exc:
                return str(exc)

        outcomes = race(wave, attempt)
        assert outcomes == ["signed in"] * wave, outcomes
        with session_factory() as s:
            assert s.scalar(select(func.count()).select_from(SignInFailure)) == 0
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == len(names)


def test_failed_sign_ins_never_make_a_verdict_fail(session_factory: sessionmaker[Session]) -> None:
    """Two loops of failed sign-ins (names with no account) beside a reviewer giving 20 verdicts, one transaction
    each: every verdict is stored (a sign-in held SQLite's write lock through its password hash)."""
    with session_factory() as s:
        tasks = make_review_queue(s, n=20)
    with write_transaction(session_factory) as s:
        ann = get_or_create_reviewer(s, "ann").id

    def work(i: int) -> int:
        if i < 2:
            for n in range(15):
                try:
                    sign_in(session_factory, f"intruder-{i}-{n}", "guess")
                except AccessDenied:
                    pass
            return 0
        for task in tasks:
            with write_transaction(session_factory) as s:
                submit_review(s, task, s.get_one(Reviewer, ann), "accept")
        return len(tasks)

    outcomes = race(3, work)
    assert outcomes == [0, 0, 20], outcomes
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Review)) == 20


def test_old_failure_records_are_pruned_and_an_old_count_starts_again(session_factory: sessionmaker[Session]) -> None:
    start = now_utc()
    with write_transaction(session_factory) as s:
        create_account(s, "lee", "lead", PW, by=None)
        s.add(SignInFailure(name="long ago", failures=40, last_failed_at=start - timedelta(days=2)))
        s.add(SignInFailure(name="lee", failures=9, last_failed_at=start - timedelta(hours=2)))
    token = sign_in(session_factory, "lee", PW, at=start)  # an hour without failures: the count starts again
    with session_factory() as s:
        assert s.get(SignInFailure, "long ago") is None and s.get(SignInFailure, "lee") is None
        assert s.scalar(select(func.count()).select_from(WebSession)) == 1 and token


def test_one_client_address_is_limited_across_names(session_factory: sessionmaker[Session]) -> None:
    start = now_utc()
    for n in range(accounts.FREE_CLIENT_ATTEMPTS):
        with pytest.raises(AccessDenied, match="unknown name"):
            sign_in(session_factory, f"name-{n}", "guess", client="10.0.0.9", at=start + timedelta(seconds=n))
    last = start + timedelta(seconds=accounts.FREE_CLIENT_ATTEMPTS - 1)
    with pytest.raises(AccessDenied, match="too many failed sign-ins for this address: try again in 2 s"):
        sign_in(session_factory, "a fresh name", "guess", client="10.0.0.9", at=last)
    with pytest.raises(AccessDenied, match="unknown name"):  # another address is not slowed down
        sign_in(session_factory, "a fresh name", "guess", client="10.0.0.10", at=last)


def test_the_password_is_checked_with_no_lock_held(session_factory: sessionmaker[Session], database_url: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """While the password is verified, another connection can take the write lock (SQLite) and the name's counter
    row (PostgreSQL) at once: a sign-in never makes a verdict wait on its argon2 work."""
    import sqlite3

    from sqlalchemy import create_engine, text

    with write_transaction(session_factory) as s:
        create_account(s, "lee", "lead", PW, by=None)
    blocked: list[str] = []
    real = accounts.HASHER

    def probe() -> None:
        if database_url.startswith("sqlite"):
            connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0)
            try:
                connection.execute("BEGIN IMMEDIATE")
                connection.rollback()
            except sqlite3.OperationalError as exc:
                blocked.append(str(exc))
            finally:
                connection.close()
            return
        engine = create_engine(database_url)
        try:
            with engine.begin() as connection:
                connection.execute(text("SET LOCAL lock_timeout = '10ms'"))
                connection.execute(text("SELECT failures FROM sign_in_failures WHERE name = 'lee' FOR UPDATE"))
        except Exception as exc:  # noqa: BLE001 (the lock timeout's error, whatever the driver calls it)
            blocked.append(type(exc).__name__)
        finally:
            engine.dispose()

    class Probing:
        def hash(self, password: str) -> str:
            return real.hash(password)

        def verify(self, stored: str, password: str) -> bool:
            probe()
            return real.verify(stored, password)

    monkeypatch.setattr(accounts, "HASHER", Probing())
    with pytest.raises(AccessDenied):
        sign_in(session_factory, "lee", "wrong password")
    assert sign_in(session_factory, "lee", PW)
    assert blocked == []
