"""This database's identity: a random id made once (the first time it is asked for), the same for every process."""
from __future__ import annotations

import secrets
import uuid

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import DatabaseIdentity


def database_id(session: Session) -> str:
    """The id, made on first use; two processes asking at once get the same one (the loser of the insert reads it)."""
    row = session.get(DatabaseIdentity, 1)
    if row is None:
        try:
            with session.begin_nested():
                session.add(DatabaseIdentity(id=1, uuid=str(uuid.uuid4())))
        except IntegrityError:
            pass
        row = session.get(DatabaseIdentity, 1, populate_existing=True)
        assert row is not None
    return row.uuid


def sync_secret(session: Session) -> str:
    """The key that signs the tasks this database pushes to Label Studio, made on first use (the first writer wins
    a race: the update only fills an empty key). Never printed, never exported."""
    database_id(session)
    session.execute(update(DatabaseIdentity).where(DatabaseIdentity.id == 1, DatabaseIdentity.sync_secret.is_(None))
                    .values(sync_secret=secrets.token_hex(32)))
    row = session.get(DatabaseIdentity, 1, populate_existing=True)
    assert row is not None and row.sync_secret is not None
    return row.sync_secret
