"""Fixtures: a real SQLite file and a real PostgreSQL server, migrated once, copied fresh per test."""
from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from augment.settings import get_settings as augment_settings
from db.engine import make_engine, make_session_factory, writer_factory
from db.migrate import upgrade_database
from db.settings import get_settings
from tests.chat_server import ChatServer
from tests.pg_server import PostgresServer, postgres_available, start_postgres
from tests.report_guard import pytest_runtest_makereport  # noqa: F401  (a hook: failures always get a report)

BACKENDS = ["sqlite", "postgresql"]
PG_TEMPLATE = "lumicrs_template"


def pytest_configure(config: pytest.Config) -> None:
    """tqdm's default write lock is a multiprocessing lock, shared with every process forked after it exists: one
    killed while holding it (a timed-out mutant under scripts/mutation.sh) would block every later one. A lock of
    this process's own instead."""
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """TEST_POSTGRES_URL if set, else a throw-away cluster started here. Required under CI."""
    external = os.environ.get("TEST_POSTGRES_URL")
    if external:
        yield external
        return
    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL binaries missing under CI")
        pytest.skip("no PostgreSQL binaries and TEST_POSTGRES_URL unset")
    server: PostgresServer = start_postgres()
    try:
        yield server.admin_url
    finally:
        server.stop()


def _admin_engine(admin_url: str) -> Engine:
    return sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url: str) -> str:
    admin = _admin_engine(postgres_admin_url)
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {PG_TEMPLATE}"))
        conn.execute(sa.text(f"CREATE DATABASE {PG_TEMPLATE}"))
    admin.dispose()
    upgrade_database(sa.make_url(postgres_admin_url).set(database=PG_TEMPLATE).render_as_string(False))
    return postgres_admin_url


def _fresh_postgres(admin_url: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(admin_url)
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name} TEMPLATE {PG_TEMPLATE}"))
    try:
        yield sa.make_url(admin_url).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A freshly migrated database on each backend; DATABASE_URL points at it for CLI/app code."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        urls: Iterator[str] = iter([f"sqlite:///{path}"])
    else:
        urls = _fresh_postgres(request.getfixturevalue("postgres_template"))
    url = next(urls)
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()
    next(urls, None)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A writer's session (BEGIN IMMEDIATE on SQLite), so single-threaded tests may decide verdicts."""
    with writer_factory(session_factory)() as s:
        yield s


@pytest.fixture
def postgres_session_factory(postgres_template: str) -> Iterator[sessionmaker[Session]]:
    """PostgreSQL alone: for steps that only exist there (row locks, SKIP LOCKED, a writer blocked by another)."""
    urls = _fresh_postgres(postgres_template)
    eng = make_engine(next(urls))
    yield make_session_factory(eng)
    eng.dispose()
    next(urls, None)


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    server = ChatServer().start()
    yield server
    server.stop()


@pytest.fixture
def endpoint(chat_server: ChatServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatServer]:
    monkeypatch.setenv("OPENAI_BASE_URL", chat_server.base_url)
    monkeypatch.setenv("AUGMENT_BACKOFF_SECONDS", "0.01")
    augment_settings.cache_clear()
    yield chat_server
    augment_settings.cache_clear()


@pytest.fixture(scope="session")
def local_engine() -> Iterator[str]:
    """The real local engine (llama.cpp serving the packaged Gemma 3 270M), one per test session.

    Installed by scripts/setup_llm.sh, which scripts/test.sh (CI) runs and marks with LUMICRS_REQUIRE_LOCAL_ENGINE=1:
    there a missing engine fails the tests; elsewhere they skip."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        if os.environ.get("LUMICRS_REQUIRE_LOCAL_ENGINE") == "1":
            raise
        pytest.skip("local engine not installed (bash scripts/setup_llm.sh)")
    from augment.local_engine import LocalEngine

    with LocalEngine() as engine:
        yield engine.base_url


@pytest.fixture
def local_endpoint(local_engine: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """OPENAI_BASE_URL at the local engine, with small outputs so each call takes a couple of seconds."""
    monkeypatch.setenv("OPENAI_BASE_URL", local_engine)
    monkeypatch.setenv("AUGMENT_MAX_TOKENS", "160")
    monkeypatch.setenv("AUGMENT_TAIL_DIALOGUES", "[1, 1]")
    monkeypatch.setenv("AUGMENT_BODY_DIALOGUES", "[1, 1]")
    augment_settings.cache_clear()
    yield local_engine
    augment_settings.cache_clear()
