#!/usr/bin/env bash
# Create .venv and install the project (torch pinned to the local CPU wheel). Idempotent.
# --no-compile: Python byte-compiles a module when it is first imported; compiling every installed file up front
# cost the main job's install CPU it shares with the llama.cpp build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --no-compile --upgrade pip
.venv/bin/python -m pip install -q --no-compile "torch==2.13.0"
.venv/bin/python -m pip install -q --no-compile -e ".[test]"
