"""Engine and session factories. Nothing is created at import time.

SQLite: the pysqlite driver's own transaction handling is switched off and SQLAlchemy emits BEGIN itself
(the recipe in SQLAlchemy's SQLite dialect docs), so SAVEPOINT / ROLLBACK behave as on PostgreSQL: rows
written inside `begin_nested()` disappear when the outer transaction rolls back. A session opened with
`write_transaction()` starts with BEGIN IMMEDIATE on SQLite, which takes the database's write lock before its
first read; on PostgreSQL it is an ordinary transaction and the queries lock the rows they decide on.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from db.settings import get_settings

IMMEDIATE = "sqlite_immediate"


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN (see _begin_sqlite)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_sqlite(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(IMMEDIATE) else "BEGIN")


def make_engine(url: str | None = None) -> Engine:
    url = url or get_settings().database_url
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _enable_sqlite_pragmas)
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def writer_factory(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """The same sessions, but every transaction begins as a writer (BEGIN IMMEDIATE on SQLite)."""
    bind = factory.kw["bind"]
    return sessionmaker(bind=bind.execution_options(**{IMMEDIATE: True}), expire_on_commit=False)


def is_write_transaction(session: Session) -> bool:
    """True on PostgreSQL (row locks serialize there) or inside a BEGIN IMMEDIATE transaction on SQLite."""
    conn = session.connection()
    return conn.dialect.name != "sqlite" or bool(conn.get_execution_options().get(IMMEDIATE))


@contextmanager
def write_transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work that decides something (a verdict, a claim): commits on success, rolls back on error."""
    with writer_factory(factory).begin() as session:
        yield session
