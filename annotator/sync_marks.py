"""What makes a Label Studio task ours: `data.lumicrs_task_id` plus `data.lumicrs_signature`, an HMAC of the kind
and that id under this database's secret (db.queries.identity.sync_secret). Anyone with project access can write an
id into a task's data; only this database can sign one, so a task made by hand is never adopted, deleted or pulled
as ours. A signature binds one task id: copying a task's data makes a copy of that task, which push and pull treat
as a copy (never as another task)."""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

TASK_ID = "lumicrs_task_id"
SIGNATURE = "lumicrs_signature"
BATCH = "lumicrs_batch"


def sign(secret: str, kind: str, task_id: int) -> str:
    return hmac.new(secret.encode(), f"{kind}:{task_id}".encode(), hashlib.sha256).hexdigest()[:32]


def task_id_of(value: Any) -> int | None:
    """Our task id as written in task data: an int (or its decimal text); None for anything else (bool included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


@dataclass
class Listing:
    """A project's tasks, sorted: ours (signed) by our task id, the rest reported one line each."""
    ours: dict[int, list[int]] = field(default_factory=dict)  # our task id -> Label Studio task ids (copies included)
    batch_of: dict[int, str] = field(default_factory=dict)  # Label Studio task id -> the import batch that made it
    annotations: dict[int, int] = field(default_factory=dict)  # Label Studio task id -> annotations (cancelled too)
    all_ids: set[int] = field(default_factory=set)  # every Label Studio task id of the project
    bad: list[str] = field(default_factory=list)  # unreadable task ids
    unsigned: list[str] = field(default_factory=list)  # ids without this database's signature (made by hand)


def mark(secret: str, kind: str, ls_id: int, data: Any) -> tuple[int | None, str | None]:
    """(our task id, None) for a task this database pushed; (None, why) for one carrying an id it cannot be ours
    for; (None, None) for a task with no id at all."""
    if not isinstance(data, dict) or TASK_ID not in data:
        return None, None
    raw = data[TASK_ID]
    ours = task_id_of(raw)
    if ours is None:
        return None, f"Label Studio task {ls_id}: data.{TASK_ID} {str(raw)[:40]!r} is not a task id; skipped"
    given = data.get(SIGNATURE)
    if not isinstance(given, str) or not hmac.compare_digest(given, sign(secret, kind, ours)):
        return None, (f"Label Studio task {ls_id} carries task id {ours} without this database's signature "
                      "(not pushed by this app): never adopted or pulled")
    return ours, None


def read_listing(secret: str, kind: str, tasks: list[tuple[int, Any, int]]) -> Listing:
    """Sort (Label Studio id, data, annotations) rows."""
    listing = Listing()
    for ls_id, data, count in tasks:
        listing.all_ids.add(ls_id)
        listing.annotations[ls_id] = count
        ours, problem = mark(secret, kind, ls_id, data)
        if ours is not None:
            listing.ours.setdefault(ours, []).append(ls_id)
            batch = data.get(BATCH)
            if isinstance(batch, str):
                listing.batch_of[ls_id] = batch
        elif problem is not None:
            (listing.unsigned if "signature" in problem else listing.bad).append(problem)
    return listing
