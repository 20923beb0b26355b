#!/usr/bin/env bash
# Mutation testing of the rule modules (mutmut 3, configured in pyproject.toml [tool.mutmut]): every mutant is run
# against the fast tests (-m "not slow") that reach its function, on SQLite and PostgreSQL; then the score per module.
# Not part of CI (well over an hour on 2 cores). Usage: bash scripts/mutation.sh [--again] [--survivors]
#   --again: keep the last run; mutants of changed functions are tested, then the survivors again (after new tests)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/bootstrap.sh
.venv/bin/python -m pip install -q "mutmut==3.8.1"
children=$(nproc)  # before OMP_NUM_THREADS=1, which GNU nproc honours
# one OpenMP thread: mutmut forks its test runner, and a forked child must not inherit torch's thread pool
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
if [ "${1:-}" = "--again" ] && [ -d mutants ]; then
  shift
  .venv/bin/mutmut run --max-children "$children"      # what changed since the last run
  mapfile -t survivors < <(.venv/bin/python scripts/mutation_report.py --names)
  if [ "${#survivors[@]}" -gt 0 ]; then .venv/bin/mutmut run --max-children "$children" "${survivors[@]}"; fi
else
  rm -rf mutants
  .venv/bin/mutmut run --max-children "$children"
fi
bash scripts/report.sh mutation .venv/bin/python scripts/mutation_report.py "$@"  # kept as reports/mutation.txt
