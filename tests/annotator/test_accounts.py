"""Accounts: argon2 hashes, roles only from leads, uniform sign-in failures, hashed session tokens."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from db.models import Reviewer, WebSession
from db.queries.accounts import (
    AccessDenied,
    authenticate,
    close_web_session,
    create_account,
    open_web_session,
    reviewer_for_token,
    set_active,
    set_role,
)
from db.queries.review import now_utc
from lumicrs_cli import app

PW = "a long enough password"


def test_first_lead_then_only_leads_create_accounts(session: Session) -> None:
    lead = create_account(session, "lee", "lead", PW, by=None)
    assert lead.password_hash is not None and lead.password_hash.startswith("$argon2id$") and PW not in lead.password_hash
    with pytest.raises(AccessDenied, match="created by a lead"):
        create_account(session, "mallory", "lead", PW, by=None)  # nobody makes themselves a lead
    ann = create_account(session, "ann", "annotator", PW, by=lead)
    with pytest.raises(AccessDenied, match="only an active lead"):
        create_account(session, "bob", "lead", PW, by=ann)
    with pytest.raises(AccessDenied, match="only an active lead"):
        set_role(session, "ann", "lead", by=ann)  # nor by changing their own role
    with pytest.raises(ValueError, match="at least 8"):
        create_account(session, "carl", "annotator", "short", by=lead)
    with pytest.raises(ValueError, match="already has an account"):
        create_account(session, "ann", "lead", PW, by=lead)
    with pytest.raises(ValueError, match="last lead"):
        set_role(session, "lee", "annotator", by=lead)
    assert set_role(session, "ann", "researcher", by=lead).role == "researcher"


def test_sign_in_failures_look_alike_and_disabled_accounts_are_out(session: Session) -> None:
    lead = create_account(session, "lee", "lead", PW, by=None)
    create_account(session, "ann", "annotator", PW, by=lead)
    assert authenticate(session, "ann", PW).name == "ann"
    messages = set()
    for name, password in (("ann", "wrong password"), ("nobody", PW), ("ann", "")):
        with pytest.raises(AccessDenied) as info:
            authenticate(session, name, password)
        messages.add(str(info.value))
    assert len(messages) == 1
    token = open_web_session(session, authenticate(session, "ann", PW))
    stored = session.scalars(select(WebSession)).one()
    assert token not in stored.token_sha256 and reviewer_for_token(session, token).name == "ann"  # type: ignore[union-attr]
    assert reviewer_for_token(session, token, at=now_utc() + timedelta(days=8)) is None  # expired
    set_active(session, "ann", False, by=lead)
    assert reviewer_for_token(session, token) is None  # signed out everywhere
    with pytest.raises(AccessDenied):
        authenticate(session, "ann", PW)
    set_active(session, "ann", True, by=lead)
    token = open_web_session(session, authenticate(session, "ann", PW))
    close_web_session(session, token)
    assert reviewer_for_token(session, token) is None


def test_cli_takes_the_password_from_the_environment_never_an_argument(database_url: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.delenv("LUMICRS_PASSWORD", raising=False)
    no_password = runner.invoke(app, ["annotate", "add-reviewer", "lee", "--role", "lead"])
    assert no_password.exit_code == 2 and "LUMICRS_PASSWORD" in no_password.output
    assert runner.invoke(app, ["annotate", "add-reviewer", "lee", "--role", "lead", "--password", PW]).exit_code != 0
    monkeypatch.setenv("LUMICRS_PASSWORD", PW)
    assert runner.invoke(app, ["annotate", "add-reviewer", "lee", "--role", "lead"]).exit_code == 0
    second = runner.invoke(app, ["annotate", "add-reviewer", "eve", "--role", "lead"])
    assert second.exit_code == 2 and "created by a lead" in second.output
    assert runner.invoke(app, ["annotate", "add-reviewer", "ann", "--by", "lee"]).exit_code == 0
    assert runner.invoke(app, ["annotate", "set-role", "ann", "--role", "researcher", "--by", "lee"]).exit_code == 0
    assert runner.invoke(app, ["annotate", "disable", "ann", "--by", "lee"]).exit_code == 0
    from db.engine import make_engine, make_session_factory

    with make_session_factory(make_engine(database_url))() as s:
        ann = s.scalars(select(Reviewer).where(Reviewer.name == "ann")).one()
        assert (ann.role, ann.active) == ("researcher", False)


def test_two_leads_creating_one_name_at_once_leave_one_account(session_factory: sessionmaker[Session]) -> None:
    import threading

    from db.engine import write_transaction

    with write_transaction(session_factory) as s:
        create_account(s, "lee", "lead", PW, by=None)
        create_account(s, "liv", "lead", PW, by=s.scalars(select(Reviewer).where(Reviewer.name == "lee")).one())
    barrier, outcomes = threading.Barrier(2), []

    def create(lead: str, role: str) -> None:
        barrier.wait()
        try:
            with write_transaction(session_factory) as s:
                by = s.scalars(select(Reviewer).where(Reviewer.name == lead)).one()
                create_account(s, "newbie", role, PW, by=by)
            outcomes.append("created")
        except ValueError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=create, args=args) for args in (("lee", "annotator"), ("liv", "researcher"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["created", "newbie already has an account"]
    with session_factory() as s:
        assert len(s.scalars(select(Reviewer).where(Reviewer.name == "newbie")).all()) == 1
