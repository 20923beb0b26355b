from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from lumicrs_cli import app
from tests.factories import redial_line, write_redial_dir

runner = CliRunner()


def test_ingest_then_stats_json(database_url: str, tmp_path: Path) -> None:
    path = write_redial_dir(tmp_path / "redial")
    result = runner.invoke(app, ["ingest", "redial", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["conversations_added"] == 2
    result = runner.invoke(app, ["stats", "longtail", "--dataset", "redial", "--json", "--plot", str(tmp_path / "lt.png")])
    assert result.exit_code == 0, result.output
    tiers = {t["tier"]: t["titles"] for t in json.loads(result.stdout)["tiers"]}
    assert tiers == {"head": 0, "body": 2, "tail": 1}  # @1 x3, @2 x2, @3 x1
    assert (tmp_path / "lt.png").stat().st_size > 1000


def test_malformed_file_exits_2_with_location(database_url: str, tmp_path: Path) -> None:
    path = write_redial_dir(tmp_path / "redial", [redial_line(1, [(10, "x")]), "[1, 2"])
    result = runner.invoke(app, ["ingest", "redial", str(path)])
    assert result.exit_code == 2
    assert "test_data.jsonl:2:" in result.output


def test_unmigrated_database_is_explained(tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    mp = pytest.MonkeyPatch()
    mp.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    from db.settings import get_settings

    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["stats", "longtail"])
        assert result.exit_code == 3 and "lumicrs db upgrade" in result.output
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        result = runner.invoke(app, ["stats", "longtail"])
        assert result.exit_code == 3 and "not ingested" in result.output
    finally:
        mp.undo()
        get_settings.cache_clear()
