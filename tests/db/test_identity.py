"""This database's identity: made once, the same for everyone asking, even at the same moment (both backends)."""
from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.engine import write_transaction
from db.models import DatabaseIdentity
from db.queries.identity import database_id
from tests.factories import race


def test_eight_processes_asking_at_once_get_one_identity(session_factory: sessionmaker[Session]) -> None:
    def ask(_: int) -> str:
        with write_transaction(session_factory) as s:
            return database_id(s)

    outcomes = race(8, ask)
    assert len(set(outcomes)) == 1 and uuid.UUID(str(outcomes[0]))
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(DatabaseIdentity)) == 1
        assert database_id(s) == outcomes[0]
