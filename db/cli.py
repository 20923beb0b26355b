"""`lumicrs db`, `lumicrs ingest`: thin commands over db services."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from db.cli_support import emit, make_table, transaction, user_errors
from db.secrets import mask_url
from db.settings import get_settings

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
ingest_app = typer.Typer(help="Load ReDial / INSPIRED into the database (idempotent).", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
MetadataOpt = Annotated[Path | None, typer.Option(help="Movie metadata JSON (default: <data>/metadata/...).")]
SplitOpt = Annotated[str | None, typer.Option(help="Force the split name instead of inferring it from file names.")]


@db_app.command("upgrade")
@user_errors
def db_upgrade(revision: str = "head") -> None:
    """Create or migrate the schema to REVISION."""
    from db.locks import exclusive
    from db.migrate import upgrade_database
    with exclusive("schema"):  # a second `db upgrade` waits, then finds the schema at head
        upgrade_database(revision=revision)
    typer.echo(f"database at {revision}: {mask_url(get_settings().database_url)}")


@db_app.command("downgrade")
@user_errors
def db_downgrade(revision: str) -> None:
    """Migrate the schema down to REVISION ('base' drops everything)."""
    from db.migrate import downgrade_database
    downgrade_database(revision=revision)
    typer.echo(f"database at {revision}")


def _ingest(dataset: str, path: Path | None, metadata: Path | None, split: str | None, as_json: bool) -> None:
    from db.ingest.service import ingest_corpus
    from db.locks import exclusive
    path = path or get_settings().data_dir / dataset
    with exclusive(f"ingest:{dataset}"), transaction() as session:  # a second ingest waits, then adds nothing
        summary = ingest_corpus(session, dataset, path, metadata, split)
    payload = asdict(summary)
    emit(payload, as_json, make_table(f"ingest {dataset} from {path}", ["field", "value"],
                                      [[k, v] for k, v in payload.items()]))


@ingest_app.command("redial")
@user_errors
def ingest_redial(path: Annotated[Path | None, typer.Argument(help="Directory or file.")] = None,
                  metadata: MetadataOpt = None, split: SplitOpt = None, as_json: JsonFlag = False) -> None:
    """ReDial jsonl (+ movies_with_mentions.csv); PATH defaults to <data>/redial."""
    _ingest("redial", path, metadata, split, as_json)


@ingest_app.command("inspired")
@user_errors
def ingest_inspired(path: Annotated[Path | None, typer.Argument(help="Directory or file.")] = None,
                    metadata: MetadataOpt = None, split: SplitOpt = None, as_json: JsonFlag = False) -> None:
    """INSPIRED tsv and/or UniCRS jsonl; PATH defaults to <data>/inspired."""
    _ingest("inspired", path, metadata, split, as_json)
