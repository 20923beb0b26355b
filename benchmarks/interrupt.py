"""Shared by the benchmark scripts: Ctrl+C stops cleanly with one line and exit code 130."""
from __future__ import annotations

import sys
from collections.abc import Callable


def run(main: Callable[[], None]) -> None:
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
