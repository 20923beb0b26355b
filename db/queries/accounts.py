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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import Reviewer, SignInFailure, WebSession
from db.queries.review import ROLES, get_reviewer_or_raise, now_utc, release_claims

HASHER = PasswordHasher()
MIN_PASSWORD = 8
SESSION_DAYS = 7


class AccessDenied(ValueError):
    """Wrong name or password, a disabled account, or an action reserved to leads."""


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")


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
    name = name.strip()
    if not name:
        raise ValueError("reviewer name must not be empty")
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
    reviewer.active = active
    if not active:
        session.execute(delete(WebSession).where(WebSession.reviewer_id == reviewer.id))
        release_claims(session, reviewer.id)
    session.flush()
    return reviewer


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


FREE_ATTEMPTS = 5
MAX_BACKOFF_SECONDS = 900
@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash to verify against when the name has no password, so every attempt costs one argon2 verification."""
    return HASHER.hash(secrets.token_urlsafe(16))


def backoff_seconds(failures: int) -> int:
    """0 for the first FREE_ATTEMPTS failures, then 2, 4, 8 ... seconds, at most MAX_BACKOFF_SECONDS."""
    return 0 if failures < FREE_ATTEMPTS else min(2 ** (failures - FREE_ATTEMPTS + 1), MAX_BACKOFF_SECONDS)


def authenticate(session: Session, name: str, password: str, *, at: datetime | None = None) -> Reviewer:
    """The account, if the name, password and active flag check out; one message for every failure, the same work
    (one argon2 verification) for known and unknown names, and a per-name back-off after repeated failures. A
    failure is recorded with a flush: the caller commits its transaction after catching AccessDenied."""
    at = at or now_utc()
    key = name.strip()[:128]
    record = session.get(SignInFailure, key)
    if record is not None:
        # a concurrent attempt that started before the recorded failure sees a negative gap: count it as none
        elapsed = max(0.0, (at - as_utc(record.last_failed_at)).total_seconds())
        wait = backoff_seconds(record.failures) - elapsed
        if wait > 0:
            raise AccessDenied(f"too many failed sign-ins for this name: try again in {math.ceil(wait)} s")
    reviewer = session.scalar(select(Reviewer).where(Reviewer.name == key))
    stored = reviewer.password_hash if reviewer is not None else None
    try:
        ok = HASHER.verify(stored or dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or reviewer is None or not reviewer.active:
        record_failure(session, key, at, record)
        raise AccessDenied("unknown name, wrong password or disabled account")
    if record is not None:
        session.delete(record)
        session.flush()
    return reviewer


def record_failure(session: Session, key: str, at: datetime, record: SignInFailure | None) -> None:
    if record is None:
        try:
            with session.begin_nested():  # two failures for one new name at once: the second updates the first's row
                session.add(SignInFailure(name=key, failures=1, last_failed_at=at))
            return
        except IntegrityError:
            pass
    record = session.scalars(select(SignInFailure).where(SignInFailure.name == key).with_for_update()
                             .execution_options(populate_existing=True)).one()
    record.failures, record.last_failed_at = record.failures + 1, at
    session.flush()


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
