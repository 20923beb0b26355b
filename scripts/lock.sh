#!/usr/bin/env bash
# Refresh the locks (the one command that changes installed versions; see README "Install and the lock"):
#   requirements/app.lock          <- pyproject.toml (+ test, llm extras) + requirements/tools.in
#   requirements/labelstudio.lock  <- requirements/labelstudio.in
# Exact versions with sha256 hashes for CPython 3.11 on Linux x86_64; torch is the local CPU wheel (/opt/wheels).
# Default: keep every locked version that still satisfies pyproject.toml and add what is new.
# --upgrade: move every package to the newest version the ranges allow (then run the tests before committing).
# --upgrade-package NAME[==VER]: move one package (repeatable).
# LOCK_OUT=DIR writes the locks there instead (scripts/try_newest.sh uses a scratch folder).
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=.cache/lock-tools
PIP_TOOLS_VERSION=7.7.0
if [ ! -x "$TOOLS/bin/pip-compile" ]; then
  "${PYTHON:-python3}" -m venv "$TOOLS"
  "$TOOLS/bin/python" -m pip install -q "pip-tools==$PIP_TOOLS_VERSION"
fi
compile() {  # out, inputs...
  local out=$1; shift
  "$TOOLS/bin/pip-compile" -q --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
    --no-emit-find-links --resolver=backtracking --output-file "$out" "${ARGS[@]}" "$@" 2> >(grep -v "is ignored" >&2)
}
ARGS=("$@")
OUT=${LOCK_OUT:-requirements}
mkdir -p "$OUT"
if [ "$OUT" != requirements ]; then  # start from the committed locks, so only what is asked for moves
  cp requirements/app.lock requirements/labelstudio.lock "$OUT"/
fi
compile "$OUT/app.lock" --extra test --extra llm pyproject.toml requirements/tools.in
compile "$OUT/labelstudio.lock" requirements/labelstudio.in
echo "locks written: $OUT/app.lock, $OUT/labelstudio.lock"
