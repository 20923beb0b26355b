#!/usr/bin/env bash
# Build the llama-cpp-python wheel once (portable CPU flags, ~7-9 min on 2 cores) into .cache/wheels/.
# Needs only a python3 with pip (not .venv), so scripts/run_main.sh starts it beside the install and the ingest.
# The wheel appears in .cache/wheels/ only when complete (built in a temporary folder, then moved).
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=.cache/wheels
PY=${PYTHON:-}
[ -z "$PY" ] && { [ -x .venv/bin/python ] && PY=.venv/bin/python || PY=python3; }
# The version and the source's sha256 are the lock's (requirements/app.lock, refreshed by scripts/lock.sh).
LLAMA_VERSION=$("$PY" scripts/lockfile.py version llama-cpp-python)
if ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
  exit 0
fi
mkdir -p "$WHEELS"
tmp=$(mktemp -d "$WHEELS/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "building llama-cpp-python $LLAMA_VERSION (portable CPU build, about 7-9 minutes; cached in $WHEELS)" >&2
CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" \
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
  "$PY" -m pip wheel -q --no-deps --require-hashes --wheel-dir "$tmp" -r <("$PY" scripts/lockfile.py only llama-cpp-python)
mv "$tmp"/llama_cpp_python-*.whl "$WHEELS"/
