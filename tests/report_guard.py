"""A pytest plugin (loaded by tests/conftest.py): no cyclic garbage collection while pytest writes a test's report.

Why: CPython 3.11's `ast.parse` keeps its recursion depth in interpreter-wide state and is not re-entrant. pytest
calls it to show a failing test's source; if the garbage collector runs meanwhile and an object's `__del__` raises,
pytest's unraisable-exception hook formats that traceback, which calls `ast.parse` again, and the outer call ends in
`SystemError: AST constructor recursion depth mismatch`: an INTERNALERROR that aborts the whole run and hides every
later test (what a half-built openai client did on a fresh install, issue 42). With the collector paused while the
report is made, a failure prints a normal report; garbage is collected as usual right after.
"""
from __future__ import annotations

import gc
from collections.abc import Generator

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, object, object]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        return (yield)
    finally:
        if enabled:
            gc.enable()
