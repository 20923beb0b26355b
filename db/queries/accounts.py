"""Accounts: argon2id password hashes (argon2-cffi), roles set only by leads, browser sessions by random token.

Nobody chooses their own role: the first lead is made from the CLI (`lumicrs annotate add-reviewer NAME --role lead`,
password from a prompt or LUMICRS_PASSWORD); after that, leads create and disable accounts and set roles.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import Reviewer, WebSession
from db.queries.review import ROLES, get_reviewer_or_raise, now_utc

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


def set_role(session: Session, name: str, role: str, *, by: Reviewer) -> Reviewer:
    require_lead(by)
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    reviewer = get_reviewer_or_raise(session, name)
    if reviewer.id == by.id and role != "lead" and lead_count(session) <= 1:
        raise ValueError("the last lead cannot give up the lead role")
    reviewer.role = role
    session.flush()
    return reviewer


def set_active(session: Session, name: str, active: bool, *, by: Reviewer) -> Reviewer:
    require_lead(by)
    reviewer = get_reviewer_or_raise(session, name)
    if reviewer.id == by.id and not active:
        raise ValueError("leads cannot disable their own account")
    reviewer.active = active
    if not active:
        session.execute(delete(WebSession).where(WebSession.reviewer_id == reviewer.id))
    session.flush()
    return reviewer


def authenticate(session: Session, name: str, password: str) -> Reviewer:
    """The account, if the name, password and active flag check out; one message for every failure."""
    reviewer = session.scalar(select(Reviewer).where(Reviewer.name == name.strip()))
    try:
        ok = reviewer is not None and reviewer.password_hash is not None and HASHER.verify(reviewer.password_hash,
                                                                                            password)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or reviewer is None or not reviewer.active:
        raise AccessDenied("unknown name, wrong password or disabled account")
    return reviewer


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
    session.execute(delete(WebSession).where(WebSession.token_sha256 == _digest(token)))
