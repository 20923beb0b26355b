"""Helpers shared by every package's CLI: session factory, JSON/table output, error translation."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from db.errors import Conflict, IngestError, NotFound, ServiceError
from db.secrets import mask_text, mask_url, url_secrets

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

P = ParamSpec("P")
R = TypeVar("R")
console = Console(stderr=True, soft_wrap=True)


def cli_session_factory() -> sessionmaker[Session]:
    from db.engine import make_engine, make_session_factory
    from db.migrate import is_migrated

    engine = make_engine()
    if not is_migrated(engine):
        raise NotFound(f"database {mask_url(engine.url.render_as_string(hide_password=False))} has no schema; "
                       "run `lumicrs db upgrade` first")
    return make_session_factory(engine)


@contextmanager
def transaction(write: bool = True) -> Iterator[Session]:
    """One CLI command's unit of work; a writer (BEGIN IMMEDIATE on SQLite) unless `write=False`."""
    from db.engine import write_transaction

    factory = cli_session_factory()
    if write:
        with write_transaction(factory) as session:
            yield session
        return
    with factory.begin() as session:
        yield session


def emit(payload: Any, as_json: bool, table: Table | None = None) -> None:
    """A command's output, JSON or a table: every URL in it masked (credentials, tokens in the query or fragment)."""
    if as_json:
        typer.echo(mask_text(json.dumps(payload, indent=2, default=str)))
    elif table is not None:
        Console().print(table)
    else:
        typer.echo(mask_text(str(payload)))


def make_table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=mask_text(title))
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else escape(mask_text(str(v))) for v in row))
    return table


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Translate our errors into a one-line message and a non-zero exit code."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (IngestError, ValueError, FileNotFoundError, ServiceError) as exc:
            console.print(f"[red]error:[/red] {escape(mask_text(str(exc)))}")
            raise typer.Exit(2) from exc
        except NotFound as exc:
            console.print(f"[red]not found:[/red] {escape(mask_text(str(exc)))}")
            raise typer.Exit(3) from exc
        except Conflict as exc:
            console.print(f"[red]conflict:[/red] {escape(mask_text(str(exc)))}")
            raise typer.Exit(4) from exc
        except KeyboardInterrupt as exc:
            console.print("interrupted: nothing of the unfinished step was written")
            raise typer.Exit(130) from exc
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            console.print(f"[red]error:[/red] {escape(database_error_line(exc))}")
            raise typer.Exit(2) from exc

    return wrapper


@contextmanager
def deferred_interrupt() -> Iterator[Callable[[], bool]]:
    """Within the block the first Ctrl+C only sets a flag the command asks between units of work (it then stops
    cleanly, its finished units saved); a second raises KeyboardInterrupt (one line from user_errors)."""
    import signal

    hits: list[bool] = []

    def handler(signum: int, frame: Any) -> None:
        if hits:
            raise KeyboardInterrupt
        hits.append(True)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(hits)
    finally:
        signal.signal(signal.SIGINT, previous)


def is_connection_error(exc: BaseException) -> bool:
    """A database that cannot be reached or refuses us (wrong password, unknown database, closed port), or a SQLite
    URL that names a file that is not a database."""
    from sqlalchemy.exc import DatabaseError, InterfaceError, OperationalError

    not_a_database = isinstance(exc, DatabaseError) and "not a database" in str(getattr(exc, "orig", exc))
    return isinstance(exc, (OperationalError, InterfaceError)) or not_a_database


def database_error_line(exc: BaseException) -> str:
    """One line for a connection failure: the driver's first line, credentials masked, and the URL we used."""
    from db.settings import get_settings

    original = getattr(exc, "orig", None) or exc
    first = next((line.strip() for line in str(original).splitlines() if line.strip()), type(original).__name__)
    given = get_settings().database_url
    return mask_text(f"cannot use the database at {mask_url(given)}: {first}", *url_secrets(given))
