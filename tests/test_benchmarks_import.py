"""Every benchmark and script imports: a module moved to another room must not leave a benchmark that dies on its
first line (benchmarks/conversation.py imported unicrs_response_rows from db/ after it had moved to trainer/)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORT_ALL = """
import importlib.util, sys
failed = []
for path in sys.argv[1:]:
    spec = importlib.util.spec_from_file_location("checked_" + path.replace("/", "_").removesuffix(".py"), path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - the test reports every failure at once
        failed.append(f"{path}: {type(error).__name__}: {error}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_benchmark_and_script_imports() -> None:
    files = sorted(str(p.relative_to(ROOT)) for folder in ("benchmarks", "scripts") for p in (ROOT / folder).glob("*.py"))
    assert len(files) > 20
    done = subprocess.run([sys.executable, "-c", IMPORT_ALL, *files], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'benchmarks'}"})
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
