"""tests/report_guard.py: a failing test gets a normal report even when a finaliser raises while pytest parses the
test's source (CPython 3.11's non-re-entrant ast.parse; the INTERNALERROR that hid 468 tests in issue 42)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FAILING_TEST = '''
import gc


class Noisy:
    def __init__(self):
        self.me = self  # a cycle: only the cyclic collector frees it

    def __del__(self):
        raise AttributeError("a finaliser that fails, as a half-built openai client's did")


def test_fails():
    gc.collect()
    gc.disable()
    for _ in range(50):
        Noisy()
    gc.set_threshold(700)  # the collector then runs while pytest parses this file to show the failure
    gc.enable()
    assert 1 + 1 == 3
'''
# a long module, so that parsing it allocates enough to start the collector mid-parse
PADDING = "".join(f"\n\ndef f{i}(x):\n    return [x + {i} for _ in range(3)]\n" for i in range(300))


def run_pytest(tmp_path: Path, *plugin: str) -> subprocess.CompletedProcess[str]:
    test = tmp_path / "test_noisy_finaliser.py"
    test.write_text(FAILING_TEST + PADDING)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin, str(test)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_finaliser_raising_while_a_failure_is_reported_still_gives_a_normal_report(tmp_path: Path) -> None:
    unguarded = run_pytest(tmp_path)
    if "INTERNALERROR" not in unguarded.stdout + unguarded.stderr:
        pytest.skip(f"this Python ({sys.version.split()[0]}) reports the failure without the guard")
    guarded = run_pytest(tmp_path, "-p", "tests.report_guard")
    out = guarded.stdout + guarded.stderr
    assert guarded.returncode == 1 and "INTERNALERROR" not in out, out
    assert "1 failed" in out and "assert (1 + 1) == 3" in out
