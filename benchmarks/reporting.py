"""Where a figure comes from: every report a benchmark writes carries the commit, the command and the machine.

    write_report(Path("reports/x.json"), payload)   ->  {..payload.., "provenance": {...}}
    scripts/report.sh NAME python benchmarks/x.py ...   the same header on a text report (reports/NAME.txt)
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance() -> dict[str, Any]:
    """The commit (and whether the tree had uncommitted changes), the command line, when and on what."""
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
            "command": " ".join(["python", *sys.argv]), "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "database": os.environ.get("DATABASE_URL", "sqlite:///./app.db").split("@")[-1]}


def write_report(path: Path, payload: dict[str, Any]) -> Path:
    """The report as JSON with its provenance; written whole (a temporary file renamed), so a killed run never
    leaves half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({**payload, "provenance": provenance()}, indent=1) + "\n")
    tmp.replace(path)
    return path


def config_fingerprint(cfg: Any) -> str:
    """A trainer config's content, name and seed aside (the runs a report holds differ only in those): a report
    written under another fingerprint is not read back."""
    import hashlib

    return hashlib.sha256(cfg.model_dump_json(exclude={"name", "seed"}).encode()).hexdigest()[:16]


def over_seeds(values: list[float], sd: bool = False) -> dict[str, float]:
    """One figure over training seeds: mean, min, max, how many seeds (and, with `sd`, the sample standard
    deviation). The benchmarks' headline figures are this mean, never the best seed."""
    import statistics

    out = {"mean": statistics.fmean(values), "min": min(values), "max": max(values)}
    if sd:
        out["sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return {**out, "seeds": float(len(values))}
