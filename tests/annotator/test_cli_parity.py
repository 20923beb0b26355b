"""Issue 50's CLI parity and races, on SQLite and PostgreSQL: a disabled lead cannot link on the command line either,
two leads linking one email at once end in one line, a file that is not a database is one line for every command,
`llm serve` checks its port, and an annotation made while its account was disabled is not taken after re-enabling."""
from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from augment.local_engine import check_port_free
from db.engine import write_transaction
from db.models import Reviewer
from db.queries.accounts import set_active
from db.queries.review import get_or_create_reviewer, link_email, now_utc
from lumicrs_cli import app
from tests.factories import race

runner = CliRunner()


def test_a_disabled_lead_cannot_link_an_email_on_the_command_line(session_factory: sessionmaker[Session]) -> None:
    with write_transaction(session_factory) as s:
        boss = get_or_create_reviewer(s, "boss", "lead")
        get_or_create_reviewer(s, "other", "lead")
        get_or_create_reviewer(s, "ann")
        boss.active = False
    result = runner.invoke(app, ["annotate", "link", "ann", "--email", "ann@lab.org", "--by", "boss"])
    assert result.exit_code == 2 and "boss is disabled; only active leads link accounts" in result.output
    with session_factory() as s:
        assert s.scalar(select(Reviewer.email).where(Reviewer.name == "ann")) is None


def test_two_leads_linking_one_email_at_once_end_in_one_line(session_factory: sessionmaker[Session]) -> None:
    with write_transaction(session_factory) as s:
        leads = [get_or_create_reviewer(s, f"lead{i}", "lead").id for i in range(2)]
        for name in ("ann", "bob"):
            get_or_create_reviewer(s, name)

    def link(i: int) -> str:
        with write_transaction(session_factory) as s:
            link_email(s, ("ann", "bob")[i], "shared@lab.org", s.get_one(Reviewer, leads[i]))
        return "linked"

    outcomes = race(2, link)
    assert sorted(map(type, outcomes), key=str) == sorted([str, ValueError], key=str), outcomes
    error = next(o for o in outcomes if isinstance(o, ValueError))
    assert "shared@lab.org" in str(error) and "\n" not in str(error)
    with session_factory() as s:
        assert list(s.scalars(select(Reviewer.email).where(Reviewer.email.is_not(None)))) == ["shared@lab.org"]


@pytest.mark.parametrize("command", [["annotate", "queue"], ["db", "upgrade"], ["augment", "status"],
                                     ["stats", "longtail"], ["annotate", "accounts"]])
def test_a_sqlite_file_that_is_not_a_database_is_one_line(tmp_path, monkeypatch, command: list[str]) -> None:  # type: ignore[no-untyped-def]
    from db.settings import get_settings

    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 20)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, command)
    finally:
        get_settings.cache_clear()
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0] == f"error: cannot use the database at sqlite:///{path}: file is not a database"


@pytest.mark.parametrize("port", [0, 70000, -1])
def test_a_port_out_of_range_is_one_line(port: int) -> None:
    with pytest.raises(ValueError, match=f"--port must be between 1 and 65535, got {port}"):
        check_port_free(port)
    result = runner.invoke(app, ["llm", "serve", "--port", str(port)])
    assert result.exit_code == 2 and "--port must be between 1 and 65535" in result.output


def test_a_port_in_time_wait_is_free_and_a_listening_one_is_not() -> None:
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with pytest.raises(ValueError, match=f"port {port} on 127.0.0.1 is already in use"):
            check_port_free(port)
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: its end of the connection waits in TIME_WAIT
        client.close()
    check_port_free(port)  # nothing listens now; TIME_WAIT alone does not make the port busy


def test_an_annotation_made_while_its_account_was_disabled_is_not_taken_after_re_enabling(
        session_factory: sessionmaker[Session]) -> None:
    from annotator.labelstudio import ExportedAnnotation
    from annotator.sync import pull_annotations
    from tests.annotator.test_sync_rules import PROJECT, setup, status_of

    fake, (t1, t2), ls = setup(session_factory)
    with write_transaction(session_factory) as s:
        set_active(s, "ann", False, by=s.scalars(select(Reviewer).where(Reviewer.name == "boss")).one())
    during = now_utc()
    with write_transaction(session_factory) as s:
        set_active(s, "ann", True, by=s.scalars(select(Reviewer).where(Reviewer.name == "boss")).one())
    fake.annotate(ls[t1], "ann@lab.org", "reject", "made while disabled")
    fake.annotate(ls[t2], "ann@lab.org", "accept")
    made = fake.annotations[(ls[t1], "ann@lab.org")]
    fake.annotations[(ls[t1], "ann@lab.org")] = ExportedAnnotation(made.ls_task_id, made.data, made.annotator,
                                                                   made.result, made.cancelled, during)
    after = fake.annotations[(ls[t2], "ann@lab.org")]
    fake.annotations[(ls[t2], "ann@lab.org")] = ExportedAnnotation(after.ls_task_id, after.data, after.annotator,
                                                                   after.result, after.cancelled,
                                                                   now_utc() + timedelta(seconds=1))
    summary = pull_annotations(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert summary.disabled == {"ann": 1} and summary.pulled == 1
    assert status_of(session_factory, t1) == ("open", "needs_review")
    assert status_of(session_factory, t2) == ("done", "accepted")
