"""Training runs and their metrics."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.errors import Conflict, NotFound
from db.export_files import VerifiedExport
from db.models import DatasetExport, RunExport, RunMetric, TrainingRun
from db.queries.identity import database_id

RESPONDER_MODEL = "responder"  # TrainingRun.model of the conversation module's runs (the others are recommenders)


def create_run(session: Session, name: str, model: str, config: dict[str, Any], device: str,
               force: bool = False, replace: bool = False) -> TrainingRun:
    """A run of the same name is replaced when it failed, or finished on the same config; one that finished on
    another config only with `replace` (its metrics and checkpoint would be lost to a different experiment); a
    'running' one only with `force` (a process that was killed cannot mark its run failed)."""
    existing = session.scalar(select(TrainingRun).where(TrainingRun.name == name))
    if existing is not None and existing.status == "running" and not force:
        raise Conflict(f"run {name!r} is marked running (since {existing.started_at:%Y-%m-%d %H:%M}); "
                       "if its process is gone, train again with --force")
    if existing is not None and existing.status == "finished" and not replace:
        changed = config_differences(existing.config or {}, config)
        if changed:
            shown = ", ".join(changed[:6]) + (f" and {len(changed) - 6} more" if len(changed) > 6 else "")
            raise Conflict(f"run {name!r} (trained {existing.started_at:%Y-%m-%d %H:%M}) was finished on another config "
                           f"(differs in: {shown}); give this config another name, or train with --replace "
                           "to overwrite that run")
    if existing is not None:
        session.delete(existing)
        session.flush()
    run = TrainingRun(name=name, model=model, config=config, device=device, status="running")
    session.add(run)
    try:
        session.flush()
    except IntegrityError as exc:  # PostgreSQL: another process inserted this name after we looked (SQLite serializes)
        raise Conflict(f"run {name!r} was started by another process at the same moment; let it finish, or "
                       "train under another name") from exc
    return run


_ABSENT = object()


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the settings two stored configs disagree on (a key one of them lacks included), sorted."""
    out: list[str] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, _ABSENT), new.get(key, _ABSENT)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(prefix + key)
    return out


def get_run_or_raise(session: Session, name_or_id: str) -> TrainingRun:
    query = select(TrainingRun).where(TrainingRun.name == name_or_id)
    run = session.scalar(query)
    if run is None and name_or_id.isdigit():
        run = session.get(TrainingRun, int(name_or_id))
    if run is None:
        raise NotFound(f"no training run {name_or_id!r}")
    return run


def finish_run(session: Session, run_id: int, status: str, checkpoint_path: str | None = None) -> None:
    run = session.get(TrainingRun, run_id)
    if run is None:
        raise NotFound(f"no training run {run_id}")
    run.status = status
    run.checkpoint_path = checkpoint_path or run.checkpoint_path
    run.finished_at = datetime.now(timezone.utc)


def record_metrics(session: Session, run_id: int, split: str, metrics: Mapping[str, float | None]) -> None:
    """Replace this run's metrics for `split` (re-evaluating is idempotent). An undefined metric (None) is not
    stored: absent means undefined, never 0."""
    session.execute(delete(RunMetric).where(RunMetric.run_id == run_id, RunMetric.split == split))
    session.add_all(RunMetric(run_id=run_id, split=split, name=k, value=float(v)) for k, v in metrics.items()
                    if v is not None)
    session.flush()


def run_metrics(session: Session, run_id: int, split: str | None = None) -> dict[str, dict[str, float]]:
    query = select(RunMetric).where(RunMetric.run_id == run_id)
    if split:
        query = query.where(RunMetric.split == split)
    out: dict[str, dict[str, float]] = {}
    for metric in session.scalars(query.order_by(RunMetric.name)):
        out.setdefault(metric.split, {})[metric.name] = metric.value
    return out


def list_runs(session: Session) -> list[TrainingRun]:
    return list(session.scalars(select(TrainingRun).order_by(TrainingRun.started_at.desc())))


def check_against_database(session: Session, export: VerifiedExport) -> None:
    """When this database made the export (its manifest carries this database's id), the export it names by id must be
    on record with the file's sha256, name and version: editing the data file and its manifest together, renaming the
    export in its manifest, or a database restored from a backup older than the export, is caught here, whatever path
    names the file. Manifests from before identities: matched by name and version, or path, as before."""
    if export.database_id is not None and export.database_id == database_id(session):
        row = session.get(DatasetExport, export.export_id) if export.export_id is not None else None
        if row is None:
            raise ValueError(f"{export.path}: this database made the export but has no export {export.export_id} on "
                             "record (its manifest was edited, or the database was restored from an older backup); "
                             "refusing to load it")
        if (row.sha256, row.name, row.version) != (export.sha256, export.name, export.version):
            raise ValueError(f"{export.path}: its manifest says {export.name} v{export.version} "
                             f"({export.sha256[:12]}…) but this database recorded export {row.id} as {row.name} "
                             f"v{row.version} ({row.sha256[:12]}…); refusing to load it")
        return
    recorded = session.scalar(select(DatasetExport).where(DatasetExport.name == export.name,
                                                          DatasetExport.version == export.version))
    if recorded is None:
        recorded = session.scalar(select(DatasetExport).where(DatasetExport.path == str(export.path)))
    if recorded is not None and recorded.sha256 and recorded.sha256 != export.sha256:
        raise ValueError(f"{export.path}: sha256 {export.sha256[:12]}… is not the one this database recorded for "
                         f"{recorded.name} v{recorded.version} ({recorded.sha256[:12]}…); the file and its manifest "
                         "were changed after export, refusing to load it")


def link_run_exports(session: Session, run_id: int, exports: Sequence[VerifiedExport]) -> None:
    """Record which verified export files fed a run (matched to their export rows by sha256), after checking each
    against the database's own record of it."""
    for export in exports:
        check_against_database(session, export)
        row = session.scalar(select(DatasetExport).where(DatasetExport.sha256 == export.sha256)
                             .order_by(DatasetExport.id.desc()).limit(1))
        session.add(RunExport(run_id=run_id, export_id=row.id if row else None, path=str(export.path),
                              sha256=export.sha256, rows=export.rows))
    session.flush()


def run_lineage(session: Session) -> dict[int, list[str]]:
    """Run id -> 'name vN (rows)' of the exports that fed it."""
    rows = session.execute(select(RunExport.run_id, DatasetExport.name, DatasetExport.version, RunExport.rows, RunExport.path)
                           .outerjoin(DatasetExport, DatasetExport.id == RunExport.export_id).order_by(RunExport.id))
    lineage: dict[int, list[str]] = {}
    for run_id, name, version, n, path in rows:
        lineage.setdefault(run_id, []).append(f"{name} v{version} ({n} rows)" if name else f"{path} ({n} rows)")
    return lineage
