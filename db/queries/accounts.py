"""Accounts: argon2id password hashes (argon2-cffi), roles set only by leads, browser sessions by random token.

Nobody chooses their own role: the first lead is made from the CLI (`lumicrs annotate add-reviewer NAME --role lead`,
password from a prompt or LUMICRS_PASSWORD); after that, leads create and disable accounts and set roles.
"""
from __future__ import annotations

import hashlib
import math
import secrets
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError, NoResultFound
from sqlalchemy.orm import Session, sessionmaker

from db.fields import text_field
from db.models import AccountEvent, Reviewer, SignInFailure, WebSession
from db.queries.review import ROLES, get_reviewer_or_raise, now_utc, release_claims

HASHER = PasswordHasher()
MIN_PASSWORD = 8
SESSION_DAYS = 7


class AccessDenied(ValueError):
    """Wrong name or password, a disabled account, or an action reserved to leads."""


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")


def account_name(name: object) -> str:
    """A reviewer's name: one line of visible text that fits its column (db.fields)."""
    return text_field(name.strip() if isinstance(name, str) else name, "reviewer name",
                      column=Reviewer.__table__.c.name)


def lead_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Reviewer).where(
        Reviewer.role == "lead", Reviewer.active.is_(True), Reviewer.password_hash.is_not(None))) or 0


def require_lead(actor: Reviewer | None) -> None:
    if actor is None or actor.role != "lead" or not actor.active:
        raise AccessDenied("only an active lead can manage accounts")


def create_account(session: Session, name: str, role: str, password: str, *, by: Reviewer | None) -> Reviewer:
    """A new account (or a password for a reviewer who had none). Without `by`, only while no lead exists."""
    if by is None and lead_count(session) > 0:
        raise AccessDenied("accounts are created by a lead once one exists (--by LEAD)")
    if by is not None:
        require_lead(by)
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    check_password(password)
    name = account_name(name)
    reviewer = session.scalar(select(Reviewer).where(Reviewer.name == name))
    if reviewer is not None and reviewer.password_hash is not None:
        raise ValueError(f"{name} already has an account")
    password_hash = HASHER.hash(password)
    if reviewer is None:
        try:
            with session.begin_nested():  # a concurrent creation of the same name loses here, with one line
                reviewer = Reviewer(name=name, role=role, active=True, password_hash=password_hash)
                session.add(reviewer)
        except IntegrityError as exc:
            raise ValueError(f"{name} already has an account") from exc
        return reviewer
    reviewer.role, reviewer.active, reviewer.password_hash = role, True, password_hash
    session.flush()
    return reviewer


def lock_accounts(session: Session, *ids: int) -> None:
    """Lock every lead row and the given accounts (FOR UPDATE, in id order, re-read): two leads changing each other at
    once take turns, and the second sees the first's change. On SQLite the write transaction already serialises."""
    session.scalars(select(Reviewer).where((Reviewer.role == "lead") | Reviewer.id.in_(ids)).order_by(Reviewer.id)
                    .with_for_update().execution_options(populate_existing=True)).all()


def keep_a_lead(session: Session, reviewer: Reviewer, *, role: str, active: bool) -> None:
    """The last active lead (with a password) can be neither demoted nor disabled, by anyone."""
    is_lead = reviewer.role == "lead" and reviewer.active and reviewer.password_hash is not None
    if is_lead and (role != "lead" or not active) and lead_count(session) <= 1:
        raise ValueError(f"the last lead cannot be demoted or disabled ({reviewer.name}): make another lead first")


def set_role(session: Session, name: str, role: str, *, by: Reviewer) -> Reviewer:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    reviewer = get_reviewer_or_raise(session, name)
    lock_accounts(session, by.id, reviewer.id)
    require_lead(by)
    keep_a_lead(session, reviewer, role=role, active=reviewer.active)
    if role != reviewer.role:
        release_claims(session, reviewer.id)  # the new role's pages claim what it may work on
    reviewer.role = role
    session.flush()
    return reviewer


def set_active(session: Session, name: str, active: bool, *, by: Reviewer) -> Reviewer:
    reviewer = get_reviewer_or_raise(session, name)
    lock_accounts(session, by.id, reviewer.id)
    require_lead(by)
    if reviewer.id == by.id and not active:
        raise ValueError("leads cannot disable their own account")
    keep_a_lead(session, reviewer, role=reviewer.role, active=active)
    if reviewer.active != active:
        session.add(AccountEvent(reviewer_id=reviewer.id, active=active, at=now_utc()))
    reviewer.active = active
    if not active:
        session.execute(delete(WebSession).where(WebSession.reviewer_id == reviewer.id))
        release_claims(session, reviewer.id)
    session.flush()
    return reviewer


def was_active_at(session: Session, reviewer_id: int, moment: datetime) -> bool:
    """Whether the account was enabled at `moment`: the last disable or enable before it says (none: it was)."""
    last = session.scalar(select(AccountEvent.active).where(AccountEvent.reviewer_id == reviewer_id,
                                                            AccountEvent.at <= moment)
                          .order_by(AccountEvent.at.desc(), AccountEvent.id.desc()).limit(1))
    return last is None or bool(last)


def acting_reviewer(session: Session, token: str | None, expected_id: int, *, role: str | None = None) -> Reviewer:
    """The account behind a browser session, re-read (and row-locked) inside the action's own transaction. Refused
    when the session ended or expired, the account was disabled, it is not the account the page was drawn for, or it
    no longer has `role`: a page rendered before a lead disabled or demoted someone cannot act for them."""
    reviewer = reviewer_for_token(session, token) if token else None
    if reviewer is None or reviewer.id != expected_id:
        raise AccessDenied("your session has ended or your account was disabled: sign in again")
    session.scalars(select(Reviewer).where(Reviewer.id == reviewer.id).with_for_update()
                    .execution_options(populate_existing=True)).one()
    if not reviewer.active:
        raise AccessDenied("your account was disabled: sign in again")
    if role is not None and reviewer.role != role:
        raise AccessDenied(f"only a {role} can do this; your account is now a {reviewer.role}")
    return reviewer


FREE_ATTEMPTS = 5  # per name: failed sign-ins before each further attempt waits
FREE_CLIENT_ATTEMPTS = 20  # per client address (a lab behind one address shares it)
MAX_BACKOFF_SECONDS = 900
RESET_AFTER = timedelta(hours=1)  # a count with no failure for this long starts again from zero
PRUNE_AFTER = timedelta(days=1)  # records older than this are deleted (the table does not grow without limit)


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash to verify against when the name has no password, so every attempt costs one argon2 verification."""
    return HASHER.hash(secrets.token_urlsafe(16))


def backoff_seconds(failures: int, free: int = FREE_ATTEMPTS) -> int:
    """0 for the first `free` failures, then 2, 4, 8 ... seconds, at most MAX_BACKOFF_SECONDS."""
    return 0 if failures < free else min(2 ** (failures - free + 1), MAX_BACKOFF_SECONDS)


def attempt_keys(name: str, client: str | None) -> list[tuple[str, int]]:
    """The counters an attempt is charged to: its name, and its client address when known."""
    keys = [(name.strip()[:128], FREE_ATTEMPTS)]
    if client:
        keys.append((f"client:{client}"[:128], FREE_CLIENT_ATTEMPTS))
    return keys


def reserve_attempt(session: Session, key: str, at: datetime, free: int = FREE_ATTEMPTS) -> None:
    """Count this attempt as a failure before its password is checked (a success takes it back afterwards), under the
    counter's row lock: attempts at once for one name take turns here, so however many arrive together, at most
    `free` passwords are checked before the back-off applies. AccessDenied while the back-off runs."""
    record = _locked_record(session, key, at)
    elapsed = max(0.0, (at - as_utc(record.last_failed_at)).total_seconds())
    if record.failures and elapsed > RESET_AFTER.total_seconds():
        record.failures = 0
    wait = backoff_seconds(record.failures, free) - elapsed
    if record.failures and wait > 0:
        subject = "this name" if not key.startswith("client:") else "this address"
        raise AccessDenied(f"too many failed sign-ins for {subject}: try again in {math.ceil(wait)} s")
    record.failures, record.last_failed_at = record.failures + 1, max(at, as_utc(record.last_failed_at))
    session.flush()


def _locked_record(session: Session, key: str, at: datetime) -> SignInFailure:
    """The counter's row, made if missing (two first attempts at once: one insert, both counted), locked."""
    if session.get(SignInFailure, key) is None:
        try:
            with session.begin_nested():
                session.add(SignInFailure(name=key, failures=0, last_failed_at=at))
        except IntegrityError:
            pass
    record = _lock_counter(session, key)
    if record is None:
        raise NoResultFound(f"sign-in counter {key!r} vanished after it was made")  # as .one() raised
    return record


def _lock_counter(session: Session, key: str) -> SignInFailure | None:
    """The counter's row, row-locked and re-read (None when there is none)."""
    return session.scalars(select(SignInFailure).where(SignInFailure.name == key).with_for_update()
                           .execution_options(populate_existing=True)).one_or_none()


def password_matches(stored: str | None, password: str) -> bool:
    """One argon2 verification whether or not the name has a password (the same work for known and unknown names)."""
    try:
        return HASHER.verify(stored or dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def give_back_attempt(session: Session, keys: list[tuple[str, int]]) -> None:
    """A success is not a failure: take back the one this attempt reserved on each counter (name and address), under
    the row lock, and drop a counter that reaches zero. Failures counted before or beside it stay counted, so a
    guesser racing the account's owner gets no fresh free attempts from the owner's sign-in, and a lab whose
    reviewers all sign in from one address never backs off for those sign-ins."""
    for key, _ in keys:
        record = _lock_counter(session, key)
        if record is None:
            continue
        record.failures -= 1
        if record.failures <= 0:
            session.delete(record)
    session.flush()


def prune_attempts(session: Session, at: datetime) -> None:
    session.execute(delete(SignInFailure).where(SignInFailure.last_failed_at < at - PRUNE_AFTER))


def authenticate(session: Session, name: str, password: str, *, at: datetime | None = None,
                 client: str | None = None) -> Reviewer:
    """The account, if the name, password and active flag check out, in one session (the CLI and tests; the app
    uses `sign_in`, which checks the password outside any transaction). One message for every failure; the attempt
    is counted before its password is checked; the caller commits after catching AccessDenied."""
    at, keys = at or now_utc(), attempt_keys(name, client)
    for key, free in keys:
        reserve_attempt(session, key, at, free)
    reviewer = session.scalar(select(Reviewer).where(Reviewer.name == name.strip()[:128]))
    stored = reviewer.password_hash if reviewer is not None else None
    if not password_matches(stored, password) or reviewer is None or not reviewer.active:
        raise AccessDenied("unknown name, wrong password or disabled account")
    give_back_attempt(session, keys)
    return reviewer


def sign_in(factory: sessionmaker[Session], name: str, password: str, *, client: str | None = None,
            at: datetime | None = None) -> str:
    """A new browser session's token, in three steps: count the attempt (a short write transaction), check the
    password with no transaction open (argon2 takes a fraction of a second: holding SQLite's write lock through it
    made reviewers' verdicts fail), then open the session and take back this attempt's count. AccessDenied otherwise."""
    from db.engine import write_transaction

    at, keys = at or now_utc(), attempt_keys(name, client)
    with write_transaction(factory) as session:
        prune_attempts(session, at)
        for key, free in keys:
            reserve_attempt(session, key, at, free)
        reviewer = session.scalar(select(Reviewer).where(Reviewer.name == name.strip()[:128]))
        stored = reviewer.password_hash if reviewer is not None else None
    if not password_matches(stored, password):
        raise AccessDenied("unknown name, wrong password or disabled account")
    with write_transaction(factory) as session:
        reviewer = session.scalar(select(Reviewer).where(Reviewer.name == name.strip()[:128]))
        if reviewer is None or not reviewer.active or reviewer.password_hash != stored:  # changed meanwhile
            raise AccessDenied("unknown name, wrong password or disabled account")
        give_back_attempt(session, keys)
        return open_web_session(session, reviewer)


def as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_web_session(session: Session, reviewer: Reviewer, *, at: datetime | None = None) -> str:
    """A new random token (returned once; only its sha256 is stored), valid SESSION_DAYS."""
    token = secrets.token_urlsafe(32)
    session.add(WebSession(token_sha256=_digest(token), reviewer_id=reviewer.id,
                           expires_at=(at or now_utc()) + timedelta(days=SESSION_DAYS)))
    session.flush()
    return token


def reviewer_for_token(session: Session, token: str, *, at: datetime | None = None) -> Reviewer | None:
    row = session.scalar(select(WebSession).where(WebSession.token_sha256 == _digest(token),
                                                  WebSession.expires_at > (at or now_utc())))
    if row is None:
        return None
    reviewer = session.get(Reviewer, row.reviewer_id)
    return reviewer if reviewer is not None and reviewer.active else None


def close_web_session(session: Session, token: str) -> None:
    """Sign out: the token ends and the tasks the account held are given back at once (not when the claim expires)."""
    row = session.scalar(select(WebSession).where(WebSession.token_sha256 == _digest(token)))
    if row is not None:
        release_claims(session, row.reviewer_id)
    session.execute(delete(WebSession).where(WebSession.token_sha256 == _digest(token)))
