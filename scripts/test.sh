#!/usr/bin/env bash
# Fresh machine -> full test suite on SQLite and a real PostgreSQL (started by the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system_deps.sh
bash scripts/bootstrap.sh
bash scripts/setup_labelstudio.sh
bash scripts/setup_llm.sh   # the local LLM engine (wheel compiled once, cached in .cache/wheels)
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 LUMICRS_REQUIRE_LOCAL_ENGINE=1
.venv/bin/ruff check . --exclude .venv,.venv-labelstudio,migrations,mutants
.venv/bin/mypy db lm charts calibration trainer/metrics.py trainer/tail_stage.py
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
