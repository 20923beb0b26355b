"""The CLI starts without the heavy libraries: they are imported by the commands that need them."""
from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "matplotlib", "pandas", "sentence_transformers", "transformers", "alembic", "label_studio_sdk",
         "scipy", "openai", "sqlalchemy", "numpy", "argon2")


def test_lumicrs_help_imports_no_heavy_library() -> None:
    code = ("import sys, json; from typer.testing import CliRunner; import lumicrs_cli; "
            "r = CliRunner().invoke(lumicrs_cli.app, ['--help']); assert r.exit_code == 0, r.output; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
