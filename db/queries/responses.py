"""Responses to score on the five rubrics: sampled from the corpus or imported from a system's output."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.errors import IngestError
from db.models import Conversation, Response, ReviewTask, Utterance
from db.queries.corpus import movie_titles, resolve_mentions
from db.queries.longtail import get_dataset_or_raise


@dataclass(frozen=True)
class ResponseSummary:
    added: int
    tasks: int
    skipped_existing: int


def _add(session: Session, conv_id: int, position: int, system: str, text: str, overlap: int) -> bool:
    exists = session.scalar(select(Response.id).where(Response.system == system, Response.conversation_id == conv_id,
                                                      Response.turn_position == position))
    if exists is not None:
        return False
    response = Response(conversation_id=conv_id, turn_position=position, system=system, text=text)
    session.add(response)
    session.flush()
    session.add(ReviewTask(kind="rating", response_id=response.id, overlap=overlap))
    return True


def sample_corpus_responses(session: Session, dataset: str, n: int, *, split: str = "test", overlap: int = 3,
                            seed: int = 0, system: str = "human-recommender") -> ResponseSummary:
    """n recommender turns (not the first turn) from `split`, reproducibly sampled."""
    ds = get_dataset_or_raise(session, dataset)
    rows = session.execute(select(Utterance.conversation_id, Utterance.position, Utterance.text)
                           .join(Conversation, Conversation.id == Utterance.conversation_id)
                           .where(Conversation.dataset_id == ds.id, Conversation.split == split,
                                  Utterance.role == "recommender", Utterance.position > 0)
                           .order_by(Utterance.id)).all()
    picked = random.Random(seed).sample(list(rows), min(n, len(rows)))
    added = sum(_add(session, c, p, system, t, overlap) for c, p, t in picked)
    session.flush()
    return ResponseSummary(added, added, len(picked) - added)


def import_responses(session: Session, dataset: str, path: Path, overlap: int = 3) -> ResponseSummary:
    """JSONL lines {"conversation": external id, "turn_position": int, "system": str, "text": str}."""
    ds = get_dataset_or_raise(session, dataset)
    conv_ids = dict(session.execute(select(Conversation.external_id, Conversation.id)
                                    .where(Conversation.dataset_id == ds.id)).all())
    added = skipped = 0
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                conv = conv_ids[str(record["conversation"])]
                ok = _add(session, conv, int(record["turn_position"]), str(record["system"]), str(record["text"]),
                          overlap)
            except (ValueError, KeyError, TypeError) as exc:
                raise IngestError(path, number, f"bad response record ({exc!r})") from exc
            added, skipped = added + ok, skipped + (not ok)
    session.flush()
    return ResponseSummary(added, added, skipped)


def response_context(session: Session, response: Response, max_turns: int = 8) -> list[Utterance]:
    return list(session.scalars(select(Utterance).where(
        Utterance.conversation_id == response.conversation_id, Utterance.position < response.turn_position)
        .order_by(Utterance.position.desc()).limit(max_turns)))[::-1]


def response_pairs(session: Session, system: str) -> list[tuple[str, str]]:
    """(system response, human reference) pairs: the reference is the corpus turn the response replaces."""
    rows = session.execute(select(Response.text, Utterance.text)
                           .join(Utterance, (Utterance.conversation_id == Response.conversation_id)
                                 & (Utterance.position == Response.turn_position))
                           .where(Response.system == system).order_by(Response.id))
    return [(hyp, ref) for hyp, ref in rows]


def readable_response(session: Session, response: Response) -> tuple[list[dict[str, str]], str]:
    """The context turns ({role, text}) and the response, with @<id> placeholders shown as movie titles."""
    titles = movie_titles(session, session.get_one(Conversation, response.conversation_id).dataset_id)
    context = [{"role": u.role, "text": resolve_mentions(u.text, titles)} for u in response_context(session, response)]
    return context, resolve_mentions(response.text, titles)
