"""Push review/rating tasks to Label Studio (judges' votes as predictions); pull annotations back.

Exactly once, across crashes: every pushed task carries our task id (`data.lumicrs_task_id`); before importing,
push asks the project which of our ids it already holds and records those Label Studio ids, then imports the
rest in batches, recording each batch's ids in its own transaction. A lost reply (server killed, client
timeout, Ctrl+C) therefore never imports a task twice: the next push finds it.
Pull: annotations are matched to our tasks by the Label Studio task ids stored at push (an id written in a task's
data proves nothing: anyone with project access can create such a task). Verdicts and ratings are upserts keyed by
(task, reviewer); an annotation deleted, cancelled or made malformed in Label Studio retracts the verdict it had
given, and the task is re-decided by the same rule as every verdict. Label Studio users map to reviewers only
through the email a lead linked (`lumicrs annotate link`); annotations of unknown users are reported and held (not
stored) until linked, those of disabled accounts are reported and ignored. One pull is one transaction.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tqdm import tqdm

from annotator.edits import parse_edited
from annotator.labelstudio import ExportedAnnotation, LabelStudioAdapter, by_lumicrs_id, label_config
from db.engine import write_transaction
from db.models import Candidate, JudgeVote, Movie, Prototype, Rating, Response, Review, Reviewer, ReviewTask
from db.queries.accounts import was_active_at
from db.queries.corpus import readable_turns
from db.queries.responses import readable_response
from db.queries.review import (
    retract_ratings,
    retract_review,
    reviewers_by_email,
    submit_ratings,
    submit_review,
)
from db.rubrics import RUBRIC_KEYS

SOURCE = "labelstudio"


@dataclass
class SyncSummary:
    pushed: int = 0
    reconciled: int = 0
    already_duplicated: int = 0
    duplicates_removed: list[int] = field(default_factory=list)  # Label Studio copies deleted (nobody annotated them)
    duplicates_kept: list[str] = field(default_factory=list)  # copies with annotations: reported
    pulled: int = 0
    retracted: int = 0
    unchanged: int = 0  # live annotations that changed nothing (a re-pull)
    invalid: list[str] = field(default_factory=list)
    held: dict[str, int] = field(default_factory=dict)  # unlinked Label Studio users
    disabled: dict[str, int] = field(default_factory=dict)  # annotations by disabled accounts (ignored)
    unknown_tasks: list[int] = field(default_factory=list)  # Label Studio tasks this app never pushed
    needs_app_reviewer: list[int] = field(default_factory=list)  # tied tasks Label Studio will not offer again


def _turns(turns: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"author": t["role"], "text": t["text"]} for t in turns]


def adjudication_payload(session: Session, task: ReviewTask) -> dict[str, Any]:
    candidate = session.get_one(Candidate, task.candidate_id)
    movie = session.get_one(Movie, candidate.movie_id)
    proto = session.get_one(Prototype, candidate.prototype_id)
    votes = list(session.scalars(select(JudgeVote).where(JudgeVote.candidate_id == candidate.id).order_by(JudgeVote.judge)))
    passes = sum(v.passed for v in votes)
    data = {
        "lumicrs_task_id": task.id, "dialogue": _turns(candidate.turns), "target": movie.title, "tier": candidate.tier,
        "judge_summary": f"{passes}/{len(votes)} pass",
        "prototype": "\n".join(f"{t['role']}: {t['text']}" for t in readable_turns(session, proto.conversation_id)),
        "rationales": "\n".join(f"{v.judge}: {'pass' if v.passed else 'fail'}"
                                f"{'' if v.valid else ' (invalid output)'} - {v.rationale}" for v in votes),
    }
    verdict = "accept" if passes * 2 > len(votes) else "reject"
    prediction = {"model_version": "five-judges", "score": passes / max(len(votes), 1), "result": [
        {"from_name": "verdict", "to_name": "dialogue", "type": "choices", "value": {"choices": [verdict]}}]}
    return {"data": data, "predictions": [prediction]}


def rating_payload(session: Session, task: ReviewTask) -> dict[str, Any]:
    response = session.get_one(Response, task.response_id)
    context, text = readable_response(session, response)
    data = {"lumicrs_task_id": task.id, "context": [{"author": t["role"], "text": t["text"]} for t in context],
            "response": text, "system": response.system}
    llm = list(session.scalars(select(Rating).where(Rating.response_id == response.id, Rating.rater_kind == "llm")))
    predictions = []
    if llm:
        predictions.append({"model_version": llm[0].rater, "result": [
            {"from_name": r.rubric, "to_name": "response", "type": "rating", "value": {"rating": r.score}}
            for r in llm if r.rater == llm[0].rater]})
    return {"data": data, "predictions": predictions}


def _open_unsynced(session: Session, kind: str) -> list[ReviewTask]:
    return list(session.scalars(select(ReviewTask).where(ReviewTask.kind == kind, ReviewTask.status == "open",
                                                         ReviewTask.labelstudio_task_id.is_(None))
                                .order_by(ReviewTask.id)))


def push_tasks(factory: sessionmaker[Session], adapter: LabelStudioAdapter, kind: str, project_title: str, *,
               batch_size: int = 200, progress: bool = False) -> SyncSummary:
    """Reconcile with the project, then import what it lacks in batches (ids recorded per batch)."""
    if batch_size < 1:
        raise ValueError("batch size must be at least 1")
    project_id = adapter.ensure_project(project_title, label_config(kind))
    listed = adapter.project_tasks(project_id)  # listed on every push, so duplicates are always found
    held = by_lumicrs_id(listed)
    summary = SyncSummary(already_duplicated=sum(len(ids) - 1 for ids in held.values()))
    remove_duplicates(factory, adapter, kind, listed, held, summary)
    held = {ours: [i for i in ids if i not in summary.duplicates_removed] for ours, ids in held.items()}
    with write_transaction(factory) as session:
        todo = []
        for task in _open_unsynced(session, kind):
            if task.id in held:
                task.labelstudio_task_id, summary.reconciled = min(held[task.id]), summary.reconciled + 1
            else:
                todo.append(task.id)
    build = adjudication_payload if kind == "adjudication" else rating_payload
    batches = [todo[i:i + batch_size] for i in range(0, len(todo), batch_size)]
    for batch in tqdm(batches, desc=f"push {kind}", unit="batch", disable=not progress, file=sys.stderr):
        with factory() as session:
            payloads = [build(session, session.get_one(ReviewTask, task_id)) for task_id in batch]
        ls_ids = adapter.import_tasks(project_id, payloads)
        with write_transaction(factory) as session:
            for task_id, ls_id in zip(batch, ls_ids, strict=True):
                session.get_one(ReviewTask, task_id).labelstudio_task_id = ls_id
        summary.pushed += len(batch)
    return summary


def remove_duplicates(factory: sessionmaker[Session], adapter: LabelStudioAdapter, kind: str,
                      listed: list[tuple[int, int, int]], held: dict[int, list[int]], summary: SyncSummary) -> None:
    """A task Label Studio holds twice (a slow import the client gave up on stored its batch anyway): the copy this
    app did not record is deleted when nobody annotated it, else reported (its annotations are not pulled)."""
    annotated = {ls_id: n for ls_id, _, n in listed}
    with factory() as session:
        stored = dict(session.execute(select(ReviewTask.id, ReviewTask.labelstudio_task_id).where(
            ReviewTask.kind == kind, ReviewTask.id.in_([o for o, ids in held.items() if len(ids) > 1]))).all())
    for ours, ids in held.items():
        if len(ids) < 2:
            continue
        keep = stored.get(ours) if stored.get(ours) in ids else min(ids)
        for ls_id in ids:
            if ls_id == keep:
                continue
            if annotated.get(ls_id, 0):
                summary.duplicates_kept.append(f"Label Studio task {ls_id} repeats task {keep} (our task {ours}) and "
                                               "has annotations: copy them to the kept task by hand")
            else:
                adapter.delete_task(ls_id)
                summary.duplicates_removed.append(ls_id)


def _value(result: list[dict[str, Any]], name: str) -> Any:
    for item in result:
        if item.get("from_name") == name:
            value = item.get("value", {})
            for key in ("choices", "text", "rating"):
                if key in value:
                    return value[key]
    return None


def apply_annotation(session: Session, kind: str, task_id: int, annotation: ExportedAnnotation,
                     reviewer: Reviewer) -> bool:
    """Store one annotation as this reviewer's verdict / ratings on our task `task_id`; True when it changed what
    was stored (a new verdict, another verdict, reason or edit)."""
    if kind == "adjudication":
        verdict = (_value(annotation.result, "verdict") or [None])[0]
        reason = " ".join(_value(annotation.result, "reason") or [])
        edited_text = "\n".join(_value(annotation.result, "edited") or [])
        edited = parse_edited(edited_text) if verdict == "edit" else None
        before = session.scalar(select(Review).where(Review.task_id == task_id, Review.reviewer_id == reviewer.id))
        seen = None if before is None else (before.verdict, before.reason, before.source,
                                            before.edited_turns if before.verdict == "edit" else None)
        submit_review(session, task_id, reviewer, str(verdict), reason, edited, source=SOURCE)
        return seen != (str(verdict), reason.strip(), SOURCE, edited)
    scores = {k: _value(annotation.result, k) for k in RUBRIC_KEYS}
    task = session.get_one(ReviewTask, task_id)
    before_scores = {r.rubric: r.score for r in session.scalars(select(Rating).where(
        Rating.response_id == task.response_id, Rating.rater == reviewer.name, Rating.rater_kind == "human"))}
    given = {k: int(v) for k, v in scores.items() if v is not None}
    submit_ratings(session, task_id, reviewer, given, source=SOURCE)
    return before_scores != given


def pull_annotations(factory: sessionmaker[Session], adapter: LabelStudioAdapter, kind: str,
                     project_title: str) -> SyncSummary:
    """Apply every live annotation on a task this app pushed (matched by the Label Studio task id stored at push,
    never by the id written in the task's data), retract verdicts whose annotation is gone, cancelled or now
    malformed; one transaction. Annotations on tasks the app never pushed, by disabled accounts or by unlinked
    users are reported and not stored; one bad annotation never stops the rest."""
    project_id = adapter.ensure_project(project_title, label_config(kind))
    annotations = adapter.export_annotations(project_id)
    summary = SyncSummary()
    with write_transaction(factory) as session:
        by_email = reviewers_by_email(session)
        pushed = dict(session.execute(select(ReviewTask.labelstudio_task_id, ReviewTask.id).where(
            ReviewTask.kind == kind, ReviewTask.labelstudio_task_id.is_not(None))).all())
        live: set[tuple[int, int]] = set()
        for annotation in annotations:
            task_id = pushed.get(annotation.ls_task_id)
            if task_id is None:
                summary.unknown_tasks.append(annotation.ls_task_id)
                continue
            reviewer = by_email.get(annotation.annotator.strip().lower())
            if reviewer is None:
                summary.held[annotation.annotator] = summary.held.get(annotation.annotator, 0) + 1
                continue
            made_while_disabled = (annotation.updated_at is not None
                                   and not was_active_at(session, reviewer.id, annotation.updated_at))
            if not reviewer.active or made_while_disabled:  # earlier verdicts stay; nothing new is taken from them
                summary.disabled[reviewer.name] = summary.disabled.get(reviewer.name, 0) + 1
                live.add((task_id, reviewer.id))
                continue
            if annotation.cancelled:
                continue  # a skipped task gives no verdict: any earlier one is retracted below
            try:
                with session.begin_nested():
                    changed = apply_annotation(session, kind, task_id, annotation, reviewer)
            except (ValueError, LookupError) as exc:
                summary.invalid.append(f"Label Studio task {annotation.ls_task_id} by {annotation.annotator}: {exc}")
                continue  # not live: a verdict it gave before is retracted below
            live.add((task_id, reviewer.id))
            summary.pulled += int(changed)
            summary.unchanged += int(not changed)
        summary.retracted = _retract_missing(session, kind, live)
        summary.needs_app_reviewer = tied_open_tasks(session, kind)
    return summary


def tied_open_tasks(session: Session, kind: str) -> list[int]:
    """Synced tasks reopened by a tie: Label Studio's queue (overlap as pushed) offers them to nobody, so the
    deciding verdict has to come from the app's Review page."""
    return list(session.scalars(select(ReviewTask.id).where(
        ReviewTask.kind == kind, ReviewTask.labelstudio_task_id.is_not(None), ReviewTask.tied.is_(True),
        ReviewTask.status == "open").order_by(ReviewTask.id)))


def _retract_missing(session: Session, kind: str, live: set[tuple[int, int]]) -> int:
    """Verdicts / ratings that came from Label Studio on synced tasks but have no live annotation any more."""
    synced = select(ReviewTask.id).where(ReviewTask.kind == kind, ReviewTask.labelstudio_task_id.is_not(None))
    if kind == "adjudication":
        stored = session.execute(select(Review.task_id, Reviewer).join(Reviewer, Reviewer.id == Review.reviewer_id)
                                 .where(Review.source == SOURCE, Review.task_id.in_(synced))).all()
    else:
        stored = session.execute(select(ReviewTask.id, Reviewer).distinct()
                                 .join(Rating, Rating.response_id == ReviewTask.response_id)
                                 .join(Reviewer, Reviewer.name == Rating.rater)
                                 .where(Rating.source == SOURCE, Rating.rater_kind == "human",
                                        ReviewTask.id.in_(synced))).all()
    retracted = 0
    for task_id, reviewer in stored:
        if (task_id, reviewer.id) in live:
            continue
        done = retract_review(session, task_id, reviewer) if kind == "adjudication" else \
            retract_ratings(session, task_id, reviewer, SOURCE)
        retracted += int(done)
    return retracted
