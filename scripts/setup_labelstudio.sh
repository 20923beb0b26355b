#!/usr/bin/env bash
# Label Studio lives in its own venv (it pins openai<2, which clashes with ours), installed from its own lock
# (requirements/labelstudio.lock, refreshed by scripts/lock.sh). Skipped when the venv already holds this lock.
set -euo pipefail
cd "$(dirname "$0")/.."
LOCK=requirements/labelstudio.lock
STAMP=.venv-labelstudio/.installed-lock.sha256
want=$(sha256sum "$LOCK" | cut -d' ' -f1)
if [ -x .venv-labelstudio/bin/label-studio ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
[ -x .venv-labelstudio/bin/python ] || "${PYTHON:-python3}" -m venv .venv-labelstudio
.venv-labelstudio/bin/python -m pip install -q --disable-pip-version-check --require-hashes --no-deps \
  -r <("${PYTHON:-python3}" scripts/lockfile.py only pip --lock "$LOCK")
.venv-labelstudio/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r "$LOCK"
echo "$want" > "$STAMP"
