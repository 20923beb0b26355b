"""Mutation score per module from `mutmut results --all true`, less the equivalent mutants listed with a reason.

    .venv/bin/python scripts/mutation_report.py [--equivalent scripts/mutation_equivalent.txt] [--survivors | --names]

Score = killed / (mutants - equivalent - not run yet). Killed includes timeouts (the mutant made a test hang: caught, slowly);
'no tests' mutants count against the score (a rule no fast test reaches is not guarded).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KILLED = {"killed", "timeout"}


def load_equivalent(path: Path) -> dict[str, str]:
    """Lines `mutant_name: reason`; '#' comments and blank lines ignored."""
    if not path.exists():
        return {}
    out = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip() if line.lstrip().startswith("#") else line.strip()
        if not line:
            continue
        name, sep, reason = line.partition(":")
        if not sep or not reason.strip():
            sys.exit(f"{path}:{number}: expected 'mutant_name: reason'")
        out[name.strip()] = reason.strip()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--equivalent", type=Path, default=ROOT / "scripts" / "mutation_equivalent.txt")
    parser.add_argument("--survivors", action="store_true", help="list every surviving mutant")
    parser.add_argument("--names", action="store_true", help="print only the surviving mutants' names (for a re-check)")
    args = parser.parse_args()
    listing = subprocess.run([str(ROOT / ".venv" / "bin" / "mutmut"), "results", "--all", "true"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    equivalent = load_equivalent(args.equivalent)
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    survivors: list[tuple[str, str]] = []
    raw: dict[str, str] = {}
    for line in listing.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if not name:
            continue
        raw[name] = status
        module = name.split(".x_")[0].split(".xǁ")[0]
        if status not in KILLED and name in equivalent:
            status = "equivalent"
        by_module[module][status] += 1
        if status not in KILLED | {"equivalent", "not checked"}:
            survivors.append((name, status))
    if args.names:
        print("\n".join(name for name, _ in survivors))
        return
    print(f"{'module':28s} {'mutants':>7s} {'killed':>6s} {'equiv':>5s} {'survived':>8s} {'no tests':>8s} "
          f"{'not run':>7s} {'score':>6s}")
    total: Counter[str] = Counter()
    for module in sorted(by_module):
        c = by_module[module]
        total.update(c)
        print(_row(module, c))
    print(_row("all", total))
    if args.survivors:
        for name, status in survivors:
            print(f"  {status:9s} {name}")
    stale = [n for n in equivalent if raw.get(n) in (None, *KILLED)]
    if stale:
        print(f"note: listed as equivalent but now killed or gone (update {args.equivalent.name}): {', '.join(stale)}")


def _row(module: str, c: Counter[str]) -> str:
    mutants = sum(c.values())
    killed = c["killed"] + c["timeout"]
    considered = mutants - c["equivalent"] - c["not checked"]  # an interrupted run scores what it ran
    score = f"{killed / considered:6.1%}" if considered else f"{'n/a':>6s}"
    return (f"{module:28s} {mutants:7d} {killed:6d} {c['equivalent']:5d} {c['survived'] + c['suspicious']:8d} "
            f"{c['no tests']:8d} {c['not checked']:7d} {score}")


if __name__ == "__main__":
    main()
