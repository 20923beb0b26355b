#!/usr/bin/env bash
# Fresh machine -> schema, ingest both corpora, long-tail stats, then the review app (SQLite by default).
set -euo pipefail
cd "$(dirname "$0")/.."
# The slice's writer runs batched on transformers (AUGMENT_WRITER_BATCH, default 32) and its judges are the trained
# panel: neither needs llama.cpp. Only a one-at-a-time writer (AUGMENT_WRITER_BATCH=1) or AUGMENT_WRITER_ENGINE=llama.cpp
# does; then its wheel (~8 min to compile) starts now (system python3, own process group), beside the install and the
# ingest; Ctrl+C or a failure stops it with this job.
build_pid=""
needs_llama=0
if [ "${AUGMENT_WRITER_BATCH:-32}" = "1" ] || [ "${AUGMENT_WRITER_ENGINE:-auto}" = "llama.cpp" ]; then needs_llama=1; fi
if [ "$needs_llama" = "1" ] && [ "${NO_LLM:-0}" != "1" ] && [ -z "${OPENAI_BASE_URL:-}${AUGMENT_BASE_URL:-}" ] \
    && "${PYTHON:-python3}" -m pip --version >/dev/null 2>&1; then
  mkdir -p .cache
  PYTHON="${PYTHON:-python3}" setsid bash scripts/build_llama_wheel.sh >.cache/llama-build.log 2>&1 &
  build_pid=$!
  trap 'if [ -n "$build_pid" ]; then kill -- -"$build_pid" 2>/dev/null || true; fi' EXIT
fi
bash scripts/bootstrap.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
L=.venv/bin/lumicrs
mkdir -p reports
$L db upgrade
$L ingest redial
$L ingest inspired
$L stats longtail --dataset redial --plot reports/longtail-redial.png
$L stats longtail --dataset inspired --plot reports/longtail-inspired.png
# A first run, so the Review page opens on model output: a small slice (LUMICRS_DEMO_MOVIES, default 5, 4 dialogues each)
# through prototypes, generation, filter, five judges and routing. With no endpoint configured the dialogues come from
# the shipped writer (augment/writer_adapter merged into the packaged model, 32 at a time, in-process) and the judges
# are the local trained panel (augment/judge_panel, in-process, no server). NO_LLM=1 skips this step.
if [ "${NO_LLM:-0}" != "1" ]; then
  if [ -z "${OPENAI_BASE_URL:-}${AUGMENT_BASE_URL:-}" ]; then
    if [ -n "$build_pid" ]; then
      $L augment prototypes --dataset inspired   # the slice's first step needs no llama.cpp: done while it builds
      echo "waiting for the llama.cpp build started at the beginning (log: .cache/llama-build.log)"
      wait "$build_pid" || echo "the background llama.cpp build failed (.cache/llama-build.log); building it again" >&2
      build_pid=""
    fi
    if [ "$needs_llama" = "1" ]; then bash scripts/setup_llm.sh; fi
    $L llm demo --dataset inspired
  else
    echo "LLM endpoint configured: run the augment commands on it (README, 'LLM endpoint'); skipping the local slice."
  fi
fi
if ! $L annotate accounts --json | grep -q '"role": "lead"'; then
  if [ -n "${LUMICRS_LEAD:-}" ] && { [ -n "${LUMICRS_PASSWORD:-}" ] || [ -t 0 ]; }; then
    $L annotate add-reviewer "$LUMICRS_LEAD" --role lead   # password from LUMICRS_PASSWORD or a prompt
  fi
fi
# What to do next, in the order it works.
echo
echo "Next steps:"
step=1
if ! $L annotate accounts --json | grep -q '"role": "lead"'; then
  echo "  $step. Make the first lead (once; this job need not run again; password prompted):"
  echo "       .venv/bin/lumicrs annotate add-reviewer YOUR_NAME --role lead"
  step=$((step + 1))
fi
echo "  $step. Open the app and sign in:  .venv/bin/streamlit run streamlit_app.py  (started below unless NO_APP=1)."
echo "     A lead lands on the Dashboard and makes annotator and researcher accounts on the Admin page."
echo "  Review (annotators): the dialogues the judges split on wait there."
echo "  Rate (researchers): fill it first with  .venv/bin/lumicrs annotate sample-responses"
echo "  Export (leads): offered once dialogues are approved (auto-accepted by the judges or accepted on Review)."
if [ "${NO_APP:-0}" != "1" ]; then
  exec .venv/bin/streamlit run streamlit_app.py --server.headless true "$@"
fi
