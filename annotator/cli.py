"""Commands of this package, registered on the top-level `lumicrs` app."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Nothing yet."""
