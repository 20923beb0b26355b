"""LLM judge scores responses 1-5 on the five rubrics (the human side is the Rate page / Label Studio)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from augment.concurrency import run_calls
from augment.llm import ChatModel, Completion
from augment.prompts import render_messages
from augment.structured import RubricReply, parse_reply
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
    interrupted: bool = False


def parse_rubric_scores(text: str) -> dict[str, int] | None:
    """All five rubrics as whole numbers 1-5, or None."""
    reply = parse_reply(text, RubricReply)
    return None if reply is None else {k: int(getattr(reply, k)) for k in RUBRIC_KEYS}


def _messages(session: Session, response: Response) -> list[dict[str, str]]:
    context = [{"role": u.role, "text": u.text} for u in response_context(session, response)]
    return render_messages("rate", rubrics=RUBRICS, context=context, response=response.text)


def rate_responses(session_factory: sessionmaker[Session], judge: ChatModel, *, concurrency: int, max_tokens: int,
                   limit: int | None = None, progress: bool = True) -> RateSummary:
    """The judge scores every response it has not rated yet (the first `limit` by id); malformed replies are
    counted invalid and stored nowhere, failed calls counted apart."""
    with session_factory() as session:
        done = select(Rating.response_id).where(Rating.rater == judge.name)
        responses = list(session.scalars(select(Response).where(Response.id.not_in(done)).order_by(Response.id)
                                         .limit(limit)))
        prompts = {r.id: _messages(session, r) for r in responses}
    rated = invalid = failed = 0
    def ask(response_id: int) -> Completion:
        return judge.complete(prompts[response_id], schema=RubricReply, temperature=0.0, max_tokens=max_tokens)

    batch = run_calls(ask, [r.id for r in responses],
                      concurrency=concurrency, desc=f"rate ({judge.name})", progress=progress)
    for response_id, reply in batch:
        scores = parse_rubric_scores(reply.text) if reply else None
        if reply is None or scores is None:
            failed, invalid = failed + (reply is None), invalid + (reply is not None)
            continue
        with write_transaction(session_factory) as session:
            upsert_ratings(session, response_id, judge.name, "llm", scores, source="llm")
        rated += 1
    return RateSummary(judge.name, len(responses), rated, invalid, failed, batch.interrupted)
