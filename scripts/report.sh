#!/usr/bin/env bash
# Run a benchmark and keep what it printed as reports/NAME.txt, headed by the commit, the command and the machine
# (the figures the docs cite from text benchmarks come from these files).
#   bash scripts/report.sh routing .venv/bin/python benchmarks/routing.py --seeds 1 2 3
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: scripts/report.sh NAME COMMAND..." >&2; exit 2; }
name=$1; shift
mkdir -p reports
out=reports/$name.txt
tmp=reports/.$name.txt.tmp
{
  echo "# commit $(git rev-parse HEAD)$([ -n "$(git status --porcelain --untracked-files=no)" ] && echo ' (uncommitted changes)')"
  echo "# command $*"
  echo "# written $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m), $(nproc) cores"
  "$@" 2>&1
} | tee "$tmp"
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] && mv "$tmp" "$out" && echo "wrote $out" >&2
exit "$status"
