"""Read a pip-compile lock (requirements/*.lock): its one reader for the install scripts. Standard library only, so
scripts/build_llama_wheel.sh can run it with the system python3 before .venv exists.

  lockfile.py version NAME [--lock F]       the version NAME is locked at
  lockfile.py without NAME... [--lock F]    the lock minus those packages (what bootstrap installs)
  lockfile.py only NAME... [--lock F]       just those packages, with their hashes
  lockfile.py diff OLD NEW                  what moved between two locks, one package a line
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP_LOCK = REPO / "requirements" / "app.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def blocks(text: str) -> list[tuple[str | None, list[str]]]:
    """The lock cut into (package, lines): a block starts at an unindented `name==version` line and runs until the
    next unindented line; comment and blank lines between blocks belong to no package (None)."""
    out: list[tuple[str | None, list[str]]] = []
    for line in text.splitlines():
        match = PIN.match(line)
        if match:
            out.append((canonical(match.group(1)), [line]))
        elif line[:1] in (" ", "\t") and out and out[-1][0] is not None:
            out[-1][1].append(line)
        else:
            out.append((None, [line]))
    return out


def pins(text: str) -> dict[str, str]:
    return {canonical(m.group(1)): m.group(2) for m in map(PIN.match, text.splitlines()) if m}


def select(text: str, names: list[str], keep: bool) -> str:
    """keep=True: only the named packages' blocks; keep=False: everything else, comments included."""
    wanted = {canonical(n) for n in names}
    if keep:
        parts = [part for name, part in blocks(text) if name in wanted]
    else:
        parts = [part for name, part in blocks(text) if name not in wanted]
    return "\n".join(line for part in parts for line in part) + "\n"


def diff(old: dict[str, str], new: dict[str, str]) -> list[str]:
    rows = []
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        rows.append(f"{name}: {before or '(absent)'} -> {after or '(absent)'}")
    return rows


def main(argv: list[str]) -> int:
    lock = APP_LOCK
    if "--lock" in argv:
        at = argv.index("--lock")
        lock = Path(argv[at + 1])
        argv = argv[:at] + argv[at + 2:]
    if len(argv) < 2 or argv[0] not in {"version", "without", "only", "diff"}:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    command, names = argv[0], argv[1:]
    if command == "diff":
        old, new = (pins(Path(p).read_text(encoding="utf-8")) for p in names[:2])
        print("\n".join(diff(old, new)) or "nothing moved")
        return 0
    try:
        text = lock.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"{lock}: cannot read the lock ({exc.strerror}); refresh it with: bash scripts/lock.sh", file=sys.stderr)
        return 2
    locked = pins(text)
    missing = [n for n in names if canonical(n) not in locked]
    if missing:
        print(f"{lock}: {', '.join(missing)} not in the lock; refresh it with: bash scripts/lock.sh", file=sys.stderr)
        return 2
    if command == "version":
        print(locked[canonical(names[0])])
    else:
        sys.stdout.write(select(text, names, keep=command == "only"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
