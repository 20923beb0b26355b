"""Drafts: what a reviewer typed or chose on a task and has not saved yet (reason, edited dialogue, scores).

One row per (reviewer, task), its `data` a flat dict of field -> value. Saved on every committed change of a field,
read when the task is shown again (a reload, a new sign-in, another browser), deleted with the verdict or ratings.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import Draft, utcnow

MAX_FIELD_CHARS = 100_000


def get_draft(session: Session, reviewer_id: int, task_id: int) -> dict[str, Any]:
    data = session.scalar(select(Draft.data).where(Draft.reviewer_id == reviewer_id, Draft.task_id == task_id))
    return dict(data or {})


def save_draft_field(session: Session, reviewer_id: int, task_id: int, field: str, value: Any) -> None:
    """Set one field of the draft (None removes it); in the caller's write transaction."""
    if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
        raise ValueError(f"{field} is over {MAX_FIELD_CHARS:,} characters; nothing was kept")
    draft = _locked_draft(session, reviewer_id, task_id)
    if draft is None:
        if value is None:
            return
        try:
            with session.begin_nested():  # two tabs saving their first field at once: one row, both fields
                session.add(Draft(reviewer_id=reviewer_id, task_id=task_id, data={}))
        except IntegrityError:
            pass
        draft = _locked_draft(session, reviewer_id, task_id)
        assert draft is not None
    data = {k: v for k, v in (draft.data or {}).items() if k != field}
    if value is not None:
        data[field] = value
    draft.data, draft.updated_at = data, utcnow()
    session.flush()


def _locked_draft(session: Session, reviewer_id: int, task_id: int) -> Draft | None:
    """The row, locked for the rest of the transaction on PostgreSQL (SQLite's writer holds the whole database)."""
    stmt = select(Draft).where(Draft.reviewer_id == reviewer_id, Draft.task_id == task_id) \
        .execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def delete_draft(session: Session, reviewer_id: int, task_id: int) -> None:
    session.execute(delete(Draft).where(Draft.reviewer_id == reviewer_id, Draft.task_id == task_id))
