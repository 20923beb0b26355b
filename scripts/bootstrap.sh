#!/usr/bin/env bash
# Create .venv and install the locked versions (requirements/app.lock: exact versions with sha256 hashes; torch is
# the local CPU wheel), then the project itself without touching them. Idempotent: an existing .venv is moved to the
# lock's versions. Refresh the lock with: bash scripts/lock.sh (README "Install and the lock").
# --no-compile: Python byte-compiles a module when it is first imported; compiling every installed file up front
# cost the main job's install CPU it shares with the llama.cpp build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
lock() { .venv/bin/python scripts/lockfile.py "$@"; }
pip_install() { .venv/bin/python -m pip install -q --no-compile --disable-pip-version-check "$@"; }
# pip first, at the lock's version (hash-checked), so the rest installs with the pip the lock was tested with.
pip_install --require-hashes --no-deps -r <(lock only pip)
# Everything but llama-cpp-python, whose locked file is its source: scripts/setup_llm.sh builds it once.
pip_install --require-hashes -r <(lock without llama-cpp-python)
pip_install --no-deps --no-build-isolation -e .
