"""Push review/rating tasks to Label Studio (judges' votes as predictions); pull annotations back.

Idempotent both ways: a task is pushed once (its Label Studio id is stored), and pulled verdicts and
ratings are upserts keyed by (task, reviewer), so pulling twice changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from annotator.labelstudio import ExportedAnnotation, LabelStudioAdapter, label_config
from db.models import Candidate, JudgeVote, Movie, Prototype, Rating, Response, ReviewTask
from db.queries.corpus import readable_turns
from db.queries.responses import response_context
from db.queries.review import get_or_create_reviewer, submit_ratings, submit_review
from db.rubrics import RUBRIC_KEYS


@dataclass
class SyncSummary:
    pushed: int = 0
    pulled: int = 0
    invalid: list[str] = field(default_factory=list)


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
    context = [{"author": u.role, "text": u.text} for u in response_context(session, response)]
    data = {"lumicrs_task_id": task.id, "context": context, "response": response.text, "system": response.system}
    llm = list(session.scalars(select(Rating).where(Rating.response_id == response.id, Rating.rater_kind == "llm")))
    predictions = []
    if llm:
        predictions.append({"model_version": llm[0].rater, "result": [
            {"from_name": r.rubric, "to_name": "response", "type": "rating", "value": {"rating": r.score}}
            for r in llm if r.rater == llm[0].rater]})
    return {"data": data, "predictions": predictions}


def push_tasks(session: Session, adapter: LabelStudioAdapter, kind: str, project_title: str) -> SyncSummary:
    project_id = adapter.ensure_project(project_title, label_config(kind))
    tasks = list(session.scalars(select(ReviewTask).where(ReviewTask.kind == kind, ReviewTask.status == "open",
                                                          ReviewTask.labelstudio_task_id.is_(None))
                                 .order_by(ReviewTask.id)))
    build = adjudication_payload if kind == "adjudication" else rating_payload
    ids = adapter.import_tasks(project_id, [build(session, t) for t in tasks])
    for task, ls_id in zip(tasks, ids, strict=True):
        task.labelstudio_task_id = ls_id
    session.flush()
    return SyncSummary(pushed=len(tasks))


def _value(result: list[dict[str, Any]], name: str) -> Any:
    for item in result:
        if item.get("from_name") == name:
            value = item.get("value", {})
            for key in ("choices", "text", "rating"):
                if key in value:
                    return value[key]
    return None


def parse_edited(text: str) -> list[dict[str, str]]:
    turns = []
    for line in text.splitlines():
        role, sep, content = line.partition(":")
        if sep and role.strip().lower() in ("seeker", "recommender") and content.strip():
            turns.append({"role": role.strip().lower(), "text": content.strip()})
    return turns


def apply_annotation(session: Session, kind: str, annotation: ExportedAnnotation) -> None:
    task_id = int(annotation.data["lumicrs_task_id"])
    if kind == "adjudication":
        reviewer = get_or_create_reviewer(session, annotation.annotator, "annotator")
        verdict = (_value(annotation.result, "verdict") or [None])[0]
        reason = " ".join(_value(annotation.result, "reason") or [])
        edited = parse_edited("\n".join(_value(annotation.result, "edited") or [])) or None
        submit_review(session, task_id, reviewer, str(verdict), reason, edited, source="labelstudio")
    else:
        reviewer = get_or_create_reviewer(session, annotation.annotator, "researcher")
        scores = {k: _value(annotation.result, k) for k in RUBRIC_KEYS}
        submit_ratings(session, task_id, reviewer, {k: int(v) for k, v in scores.items() if v is not None},
                       source="labelstudio")


def pull_annotations(session: Session, adapter: LabelStudioAdapter, kind: str, project_title: str) -> SyncSummary:
    project_id = adapter.ensure_project(project_title, label_config(kind))
    summary = SyncSummary()
    for annotation in adapter.export_annotations(project_id):
        if "lumicrs_task_id" not in annotation.data:
            continue
        try:
            with session.begin_nested():
                apply_annotation(session, kind, annotation)
            summary.pulled += 1
        except ValueError as exc:
            summary.invalid.append(f"Label Studio task {annotation.ls_task_id} by {annotation.annotator}: {exc}")
    return summary
