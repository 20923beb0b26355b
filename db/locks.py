"""Whole-command locks, so two CLI runs of ingest, upgrade or export wait for each other instead of racing:
a session-level advisory lock on PostgreSQL, an flock'ed file beside the database on SQLite."""
from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import make_url, text

from db.engine import make_engine
from db.settings import get_settings


def _key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def exclusive(name: str, url: str | None = None) -> Iterator[None]:
    """Hold the lock `name` for this database until the block ends (other holders wait)."""
    url = url or get_settings().database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        folder = Path(database).resolve().parent if database and database != ":memory:" else Path.cwd()
        lock_file = folder / f".{Path(database or 'memory').name}.{hashlib.sha256(name.encode()).hexdigest()[:12]}.lock"
        with lock_file.open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _key(name)})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _key(name)})
                conn.commit()
    finally:
        engine.dispose()
