"""Push review/rating tasks to Label Studio (judges' votes as predictions); pull annotations back.

Ours is what we signed: every pushed task carries our task id, this database's signature of it
(annotator.sync_marks) and its import batch. A task made by hand with one of our ids is never adopted, deleted or
pulled; a task whose data carries an unreadable id is reported one line and skipped.
Exactly once, across crashes: an import is recorded as pending before it is sent. Before importing, push lists the
project; while a pending batch has not appeared and is younger than the settle time (Label Studio may still be
storing it after our client gave up) push waits for it; then it records the signed tasks the project already holds
and imports the rest in batches, recording each batch's ids in its own transaction. A copy that still appears (an
import that landed after the settle time) is deleted when nobody annotated it, else kept, and pull takes its
annotations as annotations of the task it copies, one verdict per annotator. An open task deleted in Label Studio
by hand is pushed again; a decided one is reported.
Pull: annotations are matched to our tasks by the Label Studio task ids stored at push, or by our signature on a
copy. Verdicts and ratings are upserts keyed by (task, reviewer); an annotation deleted, cancelled or made
malformed in Label Studio retracts the verdict it had given, and the task is re-decided by the same rule as every
verdict. Label Studio users map to reviewers only through the email a lead linked (`lumicrs annotate link`);
annotations of unknown users are reported and held (not stored) until linked; a disabled account's verdicts stay as
they were pulled whatever happens to its annotations meanwhile. One pull is one transaction. Push and pull of a kind
hold one lock (the CLI), so they never make two projects with one title; two such projects are an error.
"""
from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker
from tqdm import tqdm

from annotator.edits import parse_edited
from annotator.errors import LabelStudioError
from annotator.labelstudio import ExportedAnnotation, LabelStudioAdapter, label_config
from annotator.sync_marks import BATCH, SIGNATURE, TASK_ID, Listing, mark, read_listing, sign
from db.engine import write_transaction
from db.models import (
    Candidate,
    JudgeVote,
    LabelStudioImport,
    Movie,
    Prototype,
    Rating,
    Response,
    Review,
    Reviewer,
    ReviewTask,
)
from db.queries.accounts import was_active_at
from db.queries.corpus import readable_turns
from db.queries.identity import sync_secret
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
POLL_SECONDS = 2.0


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
    bad_tasks: list[str] = field(default_factory=list)  # tasks whose data carries an unreadable task id (skipped)
    not_ours: list[str] = field(default_factory=list)  # tasks carrying one of our ids without our signature
    deleted_repushed: list[int] = field(default_factory=list)  # open tasks deleted in Label Studio: pushed again
    deleted_decided: list[int] = field(default_factory=list)  # decided tasks deleted in Label Studio: reported
    from_copies: int = 0  # annotations pulled from a signed copy of a pushed task
    interrupted: bool = False  # push stopped between batches (Ctrl+C)


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


def _signed(payload: dict[str, Any], secret: str, kind: str, batch: str) -> dict[str, Any]:
    task_id = payload["data"][TASK_ID]
    payload["data"].update({SIGNATURE: sign(secret, kind, task_id), BATCH: batch})
    return payload


def _age(started: datetime) -> float:
    started = started if started.tzinfo is not None else started.replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - started).total_seconds()


def settled_listing(factory: sessionmaker[Session], adapter: LabelStudioAdapter, kind: str, project_id: int,
                    secret: str, settle_seconds: float, stop: Callable[[], bool] = lambda: False,
                    progress: bool = False) -> Listing:
    """The project's tasks, once no import whose reply was lost can still be landing: while a recorded pending
    batch has none of its tasks in the project and is younger than `settle_seconds`, Label Studio may still be
    storing it, so we wait (polling) instead of importing it a second time."""
    told = False
    while True:
        listing = read_listing(secret, kind, adapter.project_tasks(project_id))
        landed = set(listing.batch_of.values())
        with factory() as session:
            young = [_age(p.started_at) for p in session.scalars(select(LabelStudioImport).where(
                LabelStudioImport.kind == kind)) if p.batch not in landed]
        young = [age for age in young if age < settle_seconds]
        if not young or stop():
            return listing
        if progress and not told:
            print(f"waiting up to {settle_seconds - max(young):.0f} s for Label Studio to store an import whose reply "
                  "was lost", file=sys.stderr)
            told = True
        time.sleep(min(POLL_SECONDS, settle_seconds - max(young)))


def push_tasks(factory: sessionmaker[Session], adapter: LabelStudioAdapter, kind: str, project_title: str, *,
               batch_size: int = 200, progress: bool = False, settle_seconds: float = 120.0,
               stop: Callable[[], bool] = lambda: False) -> SyncSummary:
    """Reconcile with the project (our signed tasks only), then import what it lacks in batches (ids recorded per
    batch). `stop` is asked between batches (Ctrl+C): what was imported is recorded, the rest waits for the next
    push."""
    if batch_size < 1:
        raise ValueError("batch size must be at least 1")
    project_id = adapter.ensure_project(project_title, label_config(kind))
    with write_transaction(factory) as session:
        secret = sync_secret(session)
    listing = settled_listing(factory, adapter, kind, project_id, secret, settle_seconds, stop, progress)
    summary = SyncSummary(already_duplicated=sum(len(ids) - 1 for ids in listing.ours.values()),
                          bad_tasks=listing.bad, not_ours=listing.unsigned)
    remove_duplicates(factory, adapter, kind, listing, summary)
    held = {ours: [i for i in ids if i not in summary.duplicates_removed] for ours, ids in listing.ours.items()}
    with write_transaction(factory) as session:
        session.execute(delete(LabelStudioImport).where(LabelStudioImport.kind == kind))  # landed, or taken as lost
        for task in session.scalars(select(ReviewTask).where(ReviewTask.kind == kind,
                                                             ReviewTask.labelstudio_task_id.is_not(None))):
            if task.labelstudio_task_id not in listing.all_ids:  # deleted in Label Studio by hand
                if task.status == "open":
                    task.labelstudio_task_id = None
                    summary.deleted_repushed.append(task.id)
                else:
                    summary.deleted_decided.append(task.id)
        session.flush()
        todo = []
        for task in _open_unsynced(session, kind):
            if task.id in held:
                task.labelstudio_task_id, summary.reconciled = min(held[task.id]), summary.reconciled + 1
            else:
                todo.append(task.id)
    build = adjudication_payload if kind == "adjudication" else rating_payload
    batches = [todo[i:i + batch_size] for i in range(0, len(todo), batch_size)]
    for batch in tqdm(batches, desc=f"push {kind}", unit="batch", disable=not progress, file=sys.stderr):
        if stop():
            summary.interrupted = True
            break
        batch_id = str(uuid.uuid4())
        with factory() as session:
            payloads = [_signed(build(session, session.get_one(ReviewTask, task_id)), secret, kind, batch_id)
                        for task_id in batch]
        with write_transaction(factory) as session:
            session.add(LabelStudioImport(batch=batch_id, kind=kind, task_ids=batch))
        try:
            ls_ids = adapter.import_tasks(project_id, payloads)
        except LabelStudioError as exc:
            if not exc.maybe_done:  # never reached the server: nothing to wait for next time
                with write_transaction(factory) as session:
                    session.execute(delete(LabelStudioImport).where(LabelStudioImport.batch == batch_id))
            raise
        with write_transaction(factory) as session:
            for task_id, ls_id in zip(batch, ls_ids, strict=True):
                session.get_one(ReviewTask, task_id).labelstudio_task_id = ls_id
            session.execute(delete(LabelStudioImport).where(LabelStudioImport.batch == batch_id))
        summary.pushed += len(batch)
    return summary


def remove_duplicates(factory: sessionmaker[Session], adapter: LabelStudioAdapter, kind: str, listing: Listing,
                      summary: SyncSummary) -> None:
    """A task Label Studio holds twice (an import whose reply was lost, stored anyway): the copy this app did not
    record is deleted when nobody annotated it (asked again right before deleting), else kept, and pull takes its
    annotations as annotations of the task it copies."""
    copied = [ours for ours, ids in listing.ours.items() if len(ids) > 1]
    with factory() as session:
        stored = dict(session.execute(select(ReviewTask.id, ReviewTask.labelstudio_task_id).where(
            ReviewTask.kind == kind, ReviewTask.id.in_(copied))).all())
    for ours in copied:
        ids = listing.ours[ours]
        keep = stored.get(ours) if stored.get(ours) in ids else min(ids)
        for ls_id in ids:
            if ls_id == keep:
                continue
            if listing.annotations.get(ls_id, 0) or adapter.annotation_count(ls_id):
                summary.duplicates_kept.append(f"Label Studio task {ls_id} repeats task {keep} (our task {ours}) and "
                                               "has annotations: kept; pull takes them as annotations of our task")
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


def latest_per_annotator(annotations: list[tuple[int, ExportedAnnotation]]) -> list[tuple[int, ExportedAnnotation]]:
    """One annotation per (our task, annotator): the last made or changed (a task and its copy annotated by the same
    person give one verdict)."""
    latest: dict[tuple[int, str], tuple[int, ExportedAnnotation]] = {}
    oldest = datetime.min.replace(tzinfo=timezone.utc)
    for task_id, annotation in annotations:
        key = (task_id, annotation.annotator.strip().lower())
        seen = latest.get(key)
        if seen is None or (annotation.updated_at or oldest) >= (seen[1].updated_at or oldest):
            latest[key] = (task_id, annotation)
    return list(latest.values())


def pull_annotations(factory: sessionmaker[Session], adapter: LabelStudioAdapter, kind: str,
                     project_title: str) -> SyncSummary:
    """Apply every live annotation on a task this app pushed (matched by the Label Studio task id stored at push,
    or by this database's signature on a copy of it; never by an id alone), one per annotator and task; retract
    verdicts whose annotation is gone, cancelled or now malformed; one transaction. Annotations on tasks the app
    never pushed, by disabled accounts or by unlinked users are reported and not stored; one bad annotation never
    stops the rest. A disabled account's verdicts stay as they were pulled, whatever happens to them in Label
    Studio (changed, cancelled or deleted) until it is enabled again."""
    project_id = adapter.ensure_project(project_title, label_config(kind))
    annotations = adapter.export_annotations(project_id)
    summary = SyncSummary()
    with write_transaction(factory) as session:
        secret = sync_secret(session)
        by_email = reviewers_by_email(session)
        pushed = dict(session.execute(select(ReviewTask.labelstudio_task_id, ReviewTask.id).where(
            ReviewTask.kind == kind, ReviewTask.labelstudio_task_id.is_not(None))).all())
        ours = set(session.scalars(select(ReviewTask.id).where(ReviewTask.kind == kind)))
        matched: list[tuple[int, ExportedAnnotation]] = []
        for annotation in annotations:
            task_id = pushed.get(annotation.ls_task_id)
            if task_id is None:
                signed, problem = mark(secret, kind, annotation.ls_task_id, annotation.data)
                if signed is not None and signed in ours:
                    task_id = signed
                    summary.from_copies += 1
                elif problem is not None and "signature" not in problem:
                    summary.bad_tasks.append(problem)
                    continue
                else:
                    summary.unknown_tasks.append(annotation.ls_task_id)
                    continue
            matched.append((task_id, annotation))
        live: set[tuple[int, int]] = set()
        for task_id, annotation in latest_per_annotator(matched):
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
        if (task_id, reviewer.id) in live or not reviewer.active:  # a disabled account's verdicts stay as pulled
            continue
        done = retract_review(session, task_id, reviewer) if kind == "adjudication" else \
            retract_ratings(session, task_id, reviewer, SOURCE)
        retracted += int(done)
    return retracted
