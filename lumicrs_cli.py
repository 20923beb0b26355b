"""The `lumicrs` console script: composes each package's typer app (a composition root)."""
from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def _loading() -> Iterator[None]:
    """A Ctrl+C while the packages load (before any command runs) must stop the command with one line. Raised as
    KeyboardInterrupt it can be swallowed by a third-party import that catches everything (the command then ran on),
    so while loading it is only noted, and acted on once loading is over. Only the main thread may set a handler."""
    interrupted: list[int] = []
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT)
    if main:
        signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
    try:
        yield
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    if interrupted:
        print("interrupted: nothing was started", file=sys.stderr)
        raise SystemExit(130)


with _loading():
    import typer

    from charts.cli import stats_app
    from db.cli import db_app, ingest_app

app = typer.Typer(help="LumiCRS Studio: long-tail CRS augmentation, review and training.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(ingest_app, name="ingest")
app.add_typer(stats_app, name="stats")


def _register_optional() -> None:
    """Feature packages register their commands here (they never import each other)."""
    from annotator.cli import register as register_annotator
    from augment.cli import register as register_augment
    from augment.engine_cli import register as register_llm
    from trainer.cli import register as register_trainer

    for register in (register_augment, register_llm, register_annotator, register_trainer):
        register(app)


with _loading():
    _register_optional()

if __name__ == "__main__":
    app()
