"""scripts/llm_pins.py: the llm extra's pins read from pyproject.toml, the one place the setup scripts take them from."""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "llm_pins.py"


def pins(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False)


def test_the_pins_and_the_llama_version_are_pyprojects() -> None:
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["llm"]
    assert pins().stdout.split() == extra
    llama = next(p for p in extra if p.startswith("llama-cpp-python[server]=="))
    assert pins("--version", "llama-cpp-python").stdout.strip() == llama.split("==")[1]


def test_a_package_the_extra_does_not_pin_is_a_one_line_error() -> None:
    done = pins("--version", "not-a-package")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().endswith("pyproject.toml: no not-a-package==VERSION in the llm extra")
