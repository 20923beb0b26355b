"""The `lumicrs` console script: composes each package's typer app (a composition root)."""
from __future__ import annotations

import sys

try:  # a Ctrl+C while the packages load (before any command runs) is one line too, not a traceback
    import typer

    from charts.cli import stats_app
    from db.cli import db_app, ingest_app
except KeyboardInterrupt:
    print("interrupted: nothing was started", file=sys.stderr)
    raise SystemExit(130) from None

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


try:
    _register_optional()
except KeyboardInterrupt:
    print("interrupted: nothing was started", file=sys.stderr)
    raise SystemExit(130) from None

if __name__ == "__main__":
    app()
