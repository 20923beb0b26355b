"""Versioned export of approved augmented dialogues: JSONL + parquet + manifest, with sha256 and provenance."""
from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from annotator.errors import PermissionDenied
from db.export_files import sha256_file
from db.models import Candidate, DatasetExport, JudgeVote, Movie, Prototype, Review, Reviewer, ReviewTask
from db.queries.candidates import candidates_in, tag_target_mentions
from db.queries.longtail import get_dataset_or_raise
from db.types import ExportRecord, Turn

APPROVED = ("auto_accepted", "accepted")


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
    return ExportRecord(candidate_id=candidate.id, dataset=dataset, target_movie_id=movie.id, target_title=movie.title,
                        tier=candidate.tier, turns=tuple(turns), prototype_conversation_id=prototype.conversation_id,
                        generator=candidate.generator, judges=judges, pass_votes=candidate.pass_votes or 0,
                        decision="accepted" if candidate.status == "accepted" else "auto_accepted",
                        reviewers=tuple(dict.fromkeys(name for name, _ in reviews)))


def next_version(session: Session, name: str) -> int:
    return (session.scalar(select(func.max(DatasetExport.version)).where(DatasetExport.name == name)) or 0) + 1


def write_files(records: list[ExportRecord], folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=False)
    jsonl = folder / "data.jsonl"
    jsonl.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
    rows = [{**r.model_dump(mode="json"), "turns": json.dumps(r.model_dump(mode="json")["turns"]),
             "judges": json.dumps(r.judges), "reviewers": list(r.reviewers)} for r in records]
    pd.DataFrame(rows).to_parquet(folder / "data.parquet", index=False)
    return sha256_file(jsonl)


def export_approved(session: Session, dataset: str, name: str, lead: Reviewer, out_dir: Path = Path("exports"),
                    tiers: tuple[str, ...] = ("body", "tail"), generators: tuple[str, ...] = ()) -> DatasetExport:
    """Leads only. Writes exports/<name>/v<N>/{data.jsonl,data.parquet,manifest.json}; one DB row."""
    if lead.role != "lead":
        raise PermissionDenied(f"{lead.name} is a {lead.role}; only leads can export datasets")
    get_dataset_or_raise(session, dataset)
    candidates = [c for c in session.scalars(candidates_in(dataset, *APPROVED))
                  if c.tier in tiers and (not generators or c.generator in generators)]
    records = [export_record(session, c, dataset) for c in candidates]
    version = next_version(session, name)
    folder = out_dir / name / f"v{version}"
    digest = write_files(records, folder)
    params = {"dataset": dataset, "tiers": list(tiers), "generators": list(generators),
              "by_tier": dict(Counter(r.tier for r in records)),
              "by_decision": dict(Counter(r.decision for r in records))}
    try:
        export = DatasetExport(name=name, version=version, created_by=lead.name, path=str(folder / "data.jsonl"),
                               sha256=digest, n_rows=len(records), params=params)
        session.add(export)
        session.flush()
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    manifest = {"name": name, "version": version, "sha256": digest, "rows": len(records), "created_by": lead.name,
                **params}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return export
