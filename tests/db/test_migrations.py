from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from db.base import Base
from db.migrate import downgrade_database, upgrade_database


def test_migrated_schema_matches_models(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_downgrade_to_base_then_upgrade_again(database_url: str, engine: sa.Engine) -> None:
    downgrade_database(database_url, "base")
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade_database(database_url)
    engine.dispose()
    assert "conversations" in sa.inspect(engine).get_table_names()
