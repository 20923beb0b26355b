"""LLM judge scores responses 1-5 on the five rubrics (the human side is the Rate page / Label Studio)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from augment.concurrency import run_calls
from augment.llm import ChatModel
from augment.prompts import extract_json, render_messages
from db.engine import write_transaction
from db.models import Rating, Response
from db.queries.responses import response_context
from db.queries.review import upsert_ratings
from db.rubrics import RUBRIC_KEYS, RUBRICS


@dataclass(frozen=True)
class RateSummary:
    judge: str
    responses: int
    rated: int
    invalid: int
    failed_calls: int


def parse_rubric_scores(text: str) -> dict[str, int] | None:
    try:
        data: Any = extract_json(text)
        scores = {k: int(data[k]) for k in RUBRIC_KEYS}
    except (ValueError, KeyError, TypeError):
        return None
    return scores if all(1 <= v <= 5 for v in scores.values()) else None


def _messages(session: Session, response: Response) -> list[dict[str, str]]:
    context = [{"role": u.role, "text": u.text} for u in response_context(session, response)]
    return render_messages("rate", rubrics=RUBRICS, context=context, response=response.text)


def rate_responses(session_factory: sessionmaker[Session], judge: ChatModel, *, limit: int | None = None,
                   concurrency: int = 4, progress: bool = True) -> RateSummary:
    with session_factory() as session:
        done = select(Rating.response_id).where(Rating.rater == judge.name)
        responses = list(session.scalars(select(Response).where(Response.id.not_in(done)).order_by(Response.id)
                                         .limit(limit)))
        prompts = {r.id: _messages(session, r) for r in responses}
    rated = invalid = failed = 0
    calls = run_calls(lambda r: judge.complete(prompts[r], temperature=0.0), [r.id for r in responses],
                      concurrency=concurrency, desc=f"rate ({judge.name})", progress=progress)
    for response_id, reply in calls:
        scores = parse_rubric_scores(reply.text) if reply else None
        if reply is None or scores is None:
            failed, invalid = failed + (reply is None), invalid + (reply is not None)
            continue
        with write_transaction(session_factory) as session:
            upsert_ratings(session, response_id, judge.name, "llm", scores, source="llm")
        rated += 1
    return RateSummary(judge.name, len(responses), rated, invalid, failed)
