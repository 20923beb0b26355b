"""Versioned export of approved augmented dialogues: JSONL + parquet + manifest, with sha256 and provenance."""
from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from annotator.errors import PermissionDenied
from db.decision import How
from db.errors import Conflict
from db.export_files import sha256_file
from db.locks import exclusive
from db.models import Candidate, DatasetExport, JudgeVote, Movie, Prototype, Review, Reviewer, ReviewTask
from db.queries.candidates import candidates_in, tag_target_mentions
from db.queries.guidelines import current_guidelines
from db.queries.identity import database_id
from db.queries.longtail import get_dataset_or_raise
from db.secrets import mask_url
from db.settings import get_settings
from db.types import ExportRecord, Turn
from lm.placeholder_model import is_placeholder

APPROVED = ("auto_accepted", "accepted")
HUMAN_HOW = (How.UNANIMOUS, How.MAJORITY, How.ADJUDICATED)  # decisions reviewers made (db.decision)
SLUG = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")  # whole name: it starts and ends with a letter or digit


def check_export_name(name: str) -> str:
    """Export names are slugs (lower-case letters, digits, '.', '_', '-'; no path separators, no '..')."""
    if not SLUG.fullmatch(name) or ".." in name:
        raise ValueError(f"export name {name!r} must be a slug: lower-case letters, digits, '.', '_' or '-' "
                         "(at most 64, starting and ending with a letter or digit)")
    return name


def approved_candidates(session: Session, dataset: str, tiers: tuple[str, ...] = ("body", "tail"),
                        generators: tuple[str, ...] = ()) -> list[Candidate]:
    return [c for c in session.scalars(candidates_in(dataset, *APPROVED))
            if c.tier in tiers and (not generators or c.generator in generators)]


def export_lock(name: str) -> AbstractContextManager[None]:
    """Held around an export's transaction by every caller (CLI, Export page): two exports of one name take turns
    instead of both claiming the same version."""
    return exclusive(f"export:{name}")


def export_preview(session: Session, dataset: str, rows: int = 3) -> dict[str, Any]:
    """What an export of `dataset` would contain: counts by tier and decision, and the first few records."""
    records = [export_record(session, c, dataset) for c in approved_candidates(session, dataset)]
    return {"rows": len(records), "by_tier": dict(Counter(r.tier for r in records)),
            "by_decision": dict(Counter(r.decided_how for r in records)), "sample": records[:rows],
            **provenance(records)}


def _reviews(session: Session, candidate_id: int) -> list[tuple[str, Review]]:
    return list(session.execute(
        select(Reviewer.name, Review).join(Review, Review.reviewer_id == Reviewer.id)
        .join(ReviewTask, ReviewTask.id == Review.task_id).where(ReviewTask.candidate_id == candidate_id)
        .order_by(Review.created_at, Review.id)).all())


def export_record(session: Session, candidate: Candidate, dataset: str) -> ExportRecord:
    movie = session.get_one(Movie, candidate.movie_id)
    reviews = _reviews(session, candidate.id)
    edits = [r.edited_turns for _, r in reviews if r.verdict == "edit" and r.edited_turns]
    raw_turns = edits[-1] if edits else candidate.turns
    turns = tag_target_mentions([Turn(role=t["role"], text=t["text"]) for t in raw_turns], movie.id, movie.title)
    judges = dict(session.execute(select(JudgeVote.judge, JudgeVote.passed)
                                  .where(JudgeVote.candidate_id == candidate.id)).all())
    prototype = session.get_one(Prototype, candidate.prototype_id)
    how = session.scalar(select(ReviewTask.decision).where(ReviewTask.candidate_id == candidate.id,
                                                           ReviewTask.kind == "adjudication"))
    return ExportRecord(candidate_id=candidate.id, dataset=dataset, target_movie_id=movie.id, target_title=movie.title,
                        tier=candidate.tier, turns=tuple(turns), prototype_conversation_id=prototype.conversation_id,
                        generator=candidate.generator, judges=judges, pass_votes=candidate.pass_votes or 0,
                        decision="accepted" if candidate.status == "accepted" else "auto_accepted",
                        decided_how=how if candidate.status == "accepted" and how in HUMAN_HOW else "auto-accepted",
                        reviewers=tuple(dict.fromkeys(name for name, _ in reviews)))


def next_version(session: Session, name: str) -> int:
    return (session.scalar(select(func.max(DatasetExport.version)).where(DatasetExport.name == name)) or 0) + 1


def write_files(records: list[ExportRecord], folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    jsonl = folder / "data.jsonl"
    jsonl.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
    rows = [{**r.model_dump(mode="json"), "turns": json.dumps(r.model_dump(mode="json")["turns"]),
             "judges": json.dumps(r.judges)} for r in records]
    pd.DataFrame(rows).to_parquet(folder / "data.parquet", index=False)
    return sha256_file(jsonl)


def export_approved(session: Session, dataset: str, name: str, lead: Reviewer, out_dir: Path | None = None,
                    tiers: tuple[str, ...] = ("body", "tail"), generators: tuple[str, ...] = (),
                    allow_empty: bool = False) -> DatasetExport:
    """Leads only. Writes exports/<name>/v<N>/{data.jsonl,data.parquet,manifest.json}; one DB row.
    An export with no rows is refused unless `allow_empty`."""
    if lead.role != "lead":
        raise PermissionDenied(f"{lead.name} is a {lead.role}; only leads can export datasets")
    if not lead.active:
        raise PermissionDenied(f"{lead.name}'s account is disabled; only active leads can export datasets")
    check_export_name(name)
    out_dir = out_dir or get_settings().export_dir
    get_dataset_or_raise(session, dataset)
    records = [export_record(session, c, dataset) for c in approved_candidates(session, dataset, tiers, generators)]
    if not records and not allow_empty:
        raise ValueError(f"{dataset} has no approved {'/'.join(tiers)} dialogues"
                         f"{' from ' + ', '.join(generators) if generators else ''}: nothing to export"
                         + suggest_dataset(session, dataset, tiers))
    guide = current_guidelines(session)
    params = {"dataset": dataset, "tiers": list(tiers), "generator_filter": list(generators),
              **provenance(records), "by_tier": dict(Counter(r.tier for r in records)),
              "by_decision": dict(Counter(r.decided_how for r in records)),
              "guidelines_version": guide.version, "guidelines_by": guide.created_by}
    warning = placeholder_warning(params, len(records))
    if warning:
        params["warning"] = warning
    export = allocate_version(session, name, lead, len(records), params, out_dir)  # never a folder that exists
    folder = out_dir / name / f"v{export.version}"
    if not folder.resolve().is_relative_to(out_dir.resolve()):
        raise ValueError(f"export folder {folder} is outside {out_dir}")
    staging = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    try:
        export.sha256 = write_files(records, staging)
        manifest = {"name": name, "version": export.version, "export_id": export.id, "sha256": export.sha256,
                    "rows": len(records), "created_by": lead.name, "database": database_label(),
                    "database_id": database_id(session), **params}
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
        (staging / "guidelines.md").write_text(guide.text + "\n", encoding="utf-8")  # what reviewers were shown
        try:
            staging.rename(folder)  # refused when the folder appeared meanwhile: nothing of anyone's is replaced
        except OSError as exc:
            raise Conflict(f"{folder} appeared while this export was written (another process or database): "
                           "nothing was replaced; run the export again") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    export.path = str(folder / "data.jsonl")
    previous = session.scalar(select(DatasetExport).where(DatasetExport.name == name,
                                                          DatasetExport.version == export.version - 1))
    if previous is not None and previous.sha256 == export.sha256:
        export.params = {**export.params, "identical_to_version": previous.version}
    session.flush()
    return export


def suggest_dataset(session: Session, dataset: str, tiers: tuple[str, ...]) -> str:
    """'; inspired has 5: use --dataset inspired' when another dataset has approved rows, else ''."""
    from db.models import Dataset

    others = {name: len(approved_candidates(session, name, tiers))
              for name in session.scalars(select(Dataset.name).where(Dataset.name != dataset).order_by(Dataset.name))}
    having = [(name, n) for name, n in others.items() if n]
    if not having:
        return ""
    name, n = max(having, key=lambda item: item[1])
    return f"; {name} has {n}: use --dataset {name}"


def database_label() -> str:
    """Which database wrote an export, for people (its URL as given, credentials masked); `database_id` is the
    identity the trainer checks."""
    return mask_url(get_settings().database_url)


def placeholder_judged(record: ExportRecord) -> bool:
    """Approved by the judges alone (no reviewer), every one of them the placeholder model: no signal behind it."""
    return (record.decision == "auto_accepted" and bool(record.judges)
            and all(is_placeholder(judge) for judge in record.judges))


def provenance(records: list[ExportRecord]) -> dict[str, Any]:
    """Every generator (and model) behind the rows and every judge that voted on them, with counts. Rows that carry
    no signal are counted apart: written by the placeholder model, or approved by placeholder judges alone;
    `placeholder_rows` is the rows with either."""
    judges = Counter(judge for r in records for judge in r.judges)
    written = [is_placeholder(r.generator) for r in records]
    judged = [placeholder_judged(r) for r in records]
    return {"generators": dict(Counter(r.generator for r in records)), "judges": dict(judges),
            "placeholder_rows": sum(w or j for w, j in zip(written, judged, strict=True)),
            "placeholder_written_rows": sum(written), "placeholder_judged_rows": sum(judged)}


def placeholder_warning(params: dict[str, Any], rows: int) -> str | None:
    """One line for the Export page, the CLI and the manifest, or None when every row carries signal."""
    if not params.get("placeholder_rows"):
        return None
    parts = [f"{params['placeholder_written_rows']} written by the placeholder model"] \
        if params.get("placeholder_written_rows") else []
    if params.get("placeholder_judged_rows"):
        parts.append(f"{params['placeholder_judged_rows']} approved by the placeholder judges alone, with no reviewer")
    return (f"{params['placeholder_rows']} of {rows} rows carry no signal ({'; '.join(parts)}): "
            "fine for trying the workflow, not data to train on")


def allocate_version(session: Session, name: str, lead: Reviewer, rows: int, params: dict[str, Any],
                     out_dir: Path) -> DatasetExport:
    """The next version of `name`, claimed by inserting its row (unique per name and version). A version whose
    folder already exists is passed over, whoever left it (a crashed export, another database sharing the folder, a
    restored backup that forgot it): an export never replaces a folder."""
    version = next_version(session, name)
    while (out_dir / name / f"v{version}").exists():
        version += 1
    export = DatasetExport(name=name, version=version, created_by=lead.name, path="",
                           sha256="", n_rows=rows, params=params)
    try:
        with session.begin_nested():
            session.add(export)
    except IntegrityError as exc:
        raise Conflict(f"export {name} v{export.version} was taken by a concurrent export; run it again") from exc
    return export
