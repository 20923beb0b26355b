"""Leads exporting one name at once, with real threads on SQLite and PostgreSQL.

Invariant after every race: each export that succeeded has a version of its own, its folder holds exactly the files
its row describes (same sha256), no folder exists without a committed row, no staging folder is left behind, and an
export that lost a race says so in one line.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from annotator.export import export_approved
from db.engine import write_transaction
from db.errors import Conflict
from db.export_files import sha256_file
from db.models import DatasetExport, Reviewer
from db.queries.accounts import open_web_session
from db.queries.review import get_or_create_reviewer, submit_review
from tests.factories import make_review_queue, race

LEADS = 4


def approved_dataset(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        tasks = make_review_queue(session, n=3, overlap=1)  # commits
    with write_transaction(session_factory) as session:
        ann = get_or_create_reviewer(session, "ann")
        for task in tasks:
            submit_review(session, task, ann, "accept")
        return get_or_create_reviewer(session, "lee", "lead").id


def assert_folders_match_rows(session_factory: sessionmaker[Session], out: Path, name: str) -> list[int]:
    with session_factory() as session:
        rows = list(session.scalars(select(DatasetExport).where(DatasetExport.name == name)))
    versions = sorted(r.version for r in rows)
    assert versions == list(range(1, len(rows) + 1))
    assert sorted(p.name for p in (out / name).iterdir()) == [f"v{v}" for v in versions]  # no orphan, no staging
    for row in rows:
        folder = out / name / f"v{row.version}"
        assert row.path == str(folder / "data.jsonl") and sha256_file(folder / "data.jsonl") == row.sha256
        assert json.loads((folder / "manifest.json").read_text())["version"] == row.version
    return versions


def test_exports_of_one_name_at_once_never_share_a_version(session_factory: sessionmaker[Session],
                                                           tmp_path: Path) -> None:
    """Without the command lock: a lead who loses the race gets a Conflict, never a shared or half-written version."""
    lead_id = approved_dataset(session_factory)

    def export(_: int) -> int:
        with write_transaction(session_factory) as session:
            lead = get_or_create_reviewer(session, "lee", "lead")
            assert lead.id == lead_id
            return export_approved(session, "toy", "race", lead, tmp_path).version

    outcomes = race(LEADS, export)
    won = [o for o in outcomes if isinstance(o, int)]
    lost = [o for o in outcomes if not isinstance(o, int)]
    assert all(isinstance(o, Conflict) for o in lost), lost
    assert all(str(o).startswith("export race v") and str(o).endswith("run it again") and "\n" not in str(o)
               for o in lost)
    assert won and sorted(won) == assert_folders_match_rows(session_factory, tmp_path, "race")


def test_leads_exporting_from_the_page_at_once_take_turns(database_url: str, session_factory: sessionmaker[Session],
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from annotator.ui_export import export_now
    from db.settings import get_settings

    monkeypatch.setenv("LUMICRS_EXPORT_DIR", str(tmp_path))
    get_settings.cache_clear()
    lead_id = approved_dataset(session_factory)
    with write_transaction(session_factory) as session:
        token = open_web_session(session, session.get_one(Reviewer, lead_id))
    outcomes = race(LEADS, lambda _: export_now(token, lead_id, "toy", "page"))
    assert [kind for kind, _ in outcomes] == ["success"] * LEADS, outcomes  # type: ignore[misc]
    assert assert_folders_match_rows(session_factory, tmp_path, "page") == list(range(1, LEADS + 1))
    assert sorted(int(message.split(" v")[1].split(" ")[0]) for _, message in outcomes) == list(  # type: ignore[misc]
        range(1, LEADS + 1))
