#!/usr/bin/env bash
# The newest versions pyproject.toml's ranges allow, on purpose (not part of CI): lock them into a scratch folder,
# install them into a scratch venv, run the fast tests there, and print what moved and what broke. The committed lock
# and .venv are not touched; adopt a result with `bash scripts/lock.sh --upgrade` (or --upgrade-package NAME) once
# the breaks are fixed. Extra arguments go to pytest (default: the fast tests, -m "not slow").
# TRY_ALSO="openai==2.54.0 ..." installs those versions over the newest ones (an older major, checked the same way).
set -euo pipefail
[ $# -gt 0 ] || set -- -m "not slow"
cd "$(dirname "$0")/.."
SCRATCH=.cache/newest
rm -rf "$SCRATCH/venv"
mkdir -p "$SCRATCH"
LOCK_OUT=$SCRATCH bash scripts/lock.sh --upgrade >"$SCRATCH/lock.log" 2>&1 \
  || { tail -20 "$SCRATCH/lock.log"; echo "locking the newest versions failed (log: $SCRATCH/lock.log)"; exit 2; }
echo "== what moved (requirements/app.lock -> the newest the ranges allow)"
python3 scripts/lockfile.py diff requirements/app.lock "$SCRATCH/app.lock"
"${PYTHON:-python3}" -m venv "$SCRATCH/venv"
V="$SCRATCH/venv/bin/python"
lock() { python3 scripts/lockfile.py "$@" --lock "$SCRATCH/app.lock"; }
"$V" -m pip install -q --no-compile --require-hashes --no-deps -r <(lock only pip)
"$V" -m pip install -q --no-compile --require-hashes -r <(lock without llama-cpp-python) 2> >(grep -v "is ignored" >&2)
"$V" -m pip install -q --no-compile --no-deps --no-build-isolation -e . >/dev/null 2>&1
if [ -n "${TRY_ALSO:-}" ]; then
  read -ra also <<<"$TRY_ALSO"
  "$V" -m pip install -q --no-compile "${also[@]}" 2> >(grep -v "is ignored" >&2)
  echo "== installed over the newest: ${also[*]}"
fi
llama=$(lock version llama-cpp-python)
"$V" -m pip install -q --no-deps --no-index --find-links .cache/wheels "llama-cpp-python==$llama" 2>/dev/null \
  || echo "(llama-cpp-python $llama is not built in .cache/wheels: the local-engine tests skip)"
echo "== the fast tests on the newest versions"
set +e
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$V" -m pytest -q -p no:cacheprovider -rfE -o addopts="" \
  "$@" | tee "$SCRATCH/pytest.log" | grep -E "^(FAILED|ERROR)|passed|failed|error" 
status=${PIPESTATUS[0]}
set -e
echo "== exit $status (full log: $SCRATCH/pytest.log; the scratch venv: $SCRATCH/venv)"
exit "$status"
