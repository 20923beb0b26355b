"""pyproject.toml's `llm` extra, its one place: every requirement, one a line; with --version NAME, the version that
NAME is pinned to (scripts/build_llama_wheel.sh and scripts/setup_llm.sh read it here)."""
from __future__ import annotations

import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def main(argv: list[str]) -> int:
    pins = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["optional-dependencies"]["llm"]
    if argv[:1] != ["--version"]:
        print("\n".join(pins))
        return 0
    name = argv[1]
    versions = [pin.split("==", 1)[1] for pin in pins if pin.split("==", 1)[0].split("[", 1)[0] == name and "==" in pin]
    if not versions:
        print(f"{PYPROJECT}: no {name}==VERSION in the llm extra", file=sys.stderr)
        return 2
    print(versions[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
