"""Export files on disk: the sha256 written into each manifest, checked again before anything reads the data."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class VerifiedExport:
    path: Path
    sha256: str
    rows: int
    name: str
    version: int
    export_id: int | None = None  # the exporting database's row (manifests from before identities have none)
    database_id: str | None = None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_export(path: Path) -> VerifiedExport:
    """The data file must match the sha256 of the manifest.json beside it; otherwise a one-line ValueError."""
    manifest_path = path.parent / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: export data file not found")
    if not manifest_path.exists():
        raise ValueError(f"{path}: no manifest.json beside it, so its sha256 cannot be checked; export it with `lumicrs export`")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        expected, rows = str(manifest["sha256"]), int(manifest["rows"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{manifest_path}: not an export manifest ({exc})") from exc
    actual = sha256_file(path)
    if actual != expected:
        raise ValueError(f"{path}: sha256 {actual[:12]}… does not match its manifest ({expected[:12]}…); "
                         "the file changed after export, refusing to load it")
    export_id, database = manifest.get("export_id"), manifest.get("database_id")
    return VerifiedExport(path, actual, rows, str(manifest.get("name", "")), int(manifest.get("version", 0)),
                          export_id if isinstance(export_id, int) and not isinstance(export_id, bool) else None,
                          str(database) if database else None)
