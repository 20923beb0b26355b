"""Responses to score on the five rubrics: sampled from the corpus or imported from a system's output."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.errors import IngestError
from db.fields import check_line_size, text_field, whole_number
from db.models import Conversation, Response, ReviewTask, Utterance
from db.queries.corpus import movie_titles, resolve_mentions
from db.queries.longtail import get_dataset_or_raise


@dataclass(frozen=True)
class ResponseSummary:
    added: int
    tasks: int
    skipped_existing: int


def add_response(session: Session, conv_id: int, position: int, system: str, text: str, overlap: int,
                 queue: bool = True) -> bool:
    """A system's response to one corpus turn, queued for people's rubric rating (`queue`; the LLM judge rates every
    response); False when that system already answered it."""
    exists = session.scalar(select(Response.id).where(Response.system == system, Response.conversation_id == conv_id,
                                                      Response.turn_position == position))
    if exists is not None:
        return False
    response = Response(conversation_id=conv_id, turn_position=position, system=system, text=text)
    try:
        with session.begin_nested():  # another process answering the same turn committed first: it stays theirs
            session.add(response)
            session.flush()
    except IntegrityError:
        return False
    if queue:
        session.add(ReviewTask(kind="rating", response_id=response.id, overlap=overlap))
    return True


# LumiCRS Sec. 5.3's subjective protocol: 1,000 responses scored by the LLM judge, 200 of them also by three people
STUDY_RESPONSES, STUDY_HUMAN_RESPONSES, STUDY_RATERS = 1000, 200, 3


def sample_corpus_responses(session: Session, dataset: str, n: int = STUDY_RESPONSES, *, split: str = "test",
                            overlap: int = STUDY_RATERS, human: int | None = STUDY_HUMAN_RESPONSES, seed: int = 0,
                            system: str = "human-recommender") -> ResponseSummary:
    """n recommender turns (not the first turn) from `split`, reproducibly sampled, for the LLM judge (`augment
    rate`); the first `human` of them (None: all) are also queued for `overlap` people each on the Rate page."""
    ds = get_dataset_or_raise(session, dataset)
    rows = session.execute(select(Utterance.conversation_id, Utterance.position, Utterance.text)
                           .join(Conversation, Conversation.id == Utterance.conversation_id)
                           .where(Conversation.dataset_id == ds.id, Conversation.split == split,
                                  Utterance.role == "recommender", Utterance.position > 0)
                           .order_by(Utterance.id)).all()
    picked = random.Random(seed).sample(list(rows), min(n, len(rows)))
    for_people = len(picked) if human is None else human
    added = [add_response(session, c, p, system, t, overlap, queue=i < for_people) for i, (c, p, t) in enumerate(picked)]
    session.flush()
    return ResponseSummary(sum(added), sum(added[:for_people]), len(picked) - sum(added))


MAX_RESPONSE_CHARS = 20_000


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
                check_line_size(line)
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError("expected a JSON object")
                missing = [k for k in ("conversation", "turn_position", "system", "text") if k not in record]
                if missing:
                    raise ValueError(f"missing field(s) {', '.join(missing)}")
                conversation = record["conversation"]
                if isinstance(conversation, bool) or not isinstance(conversation, (str, int)):
                    raise ValueError(f"conversation must be an id, got {type(conversation).__name__}")
                if str(conversation) not in conv_ids:
                    raise ValueError(f"no conversation {str(conversation)[:40]!r} in {dataset}")
                ok = add_response(session, conv_ids[str(conversation)],
                                  whole_number(record["turn_position"], "turn_position"),
                                  text_field(record["system"], "system", column=Response.__table__.c.system),
                                  text_field(record["text"], "text", max_len=MAX_RESPONSE_CHARS, multiline=True),
                                  overlap)
            except ValueError as exc:  # json's errors are ValueErrors too
                raise IngestError(path, number, str(exc).splitlines()[0]) from exc
            added, skipped = added + ok, skipped + (not ok)
    session.flush()
    return ResponseSummary(added, added, skipped)


def answered_turns(session: Session, system: str) -> set[tuple[int, int]]:
    """(conversation id, turn position) of every turn `system` has a response for."""
    rows = session.execute(select(Response.conversation_id, Response.turn_position).where(Response.system == system))
    return {(c, p) for c, p in rows}


def response_context(session: Session, response: Response, max_turns: int = 8) -> list[Utterance]:
    return list(session.scalars(select(Utterance).where(
        Utterance.conversation_id == response.conversation_id, Utterance.position < response.turn_position)
        .order_by(Utterance.position.desc()).limit(max_turns)))[::-1]


def response_rows(session: Session, system: str) -> list[tuple[int, str, str]]:
    """(conversation id, system response, human reference): the reference is the corpus turn the response replaces;
    both with ReDial's @<id> placeholders shown as titles, as generators write them."""
    rows = session.execute(select(Response.conversation_id, Response.text, Utterance.text, Conversation.dataset_id)
                           .join(Utterance, (Utterance.conversation_id == Response.conversation_id)
                                 & (Utterance.position == Response.turn_position))
                           .join(Conversation, Conversation.id == Response.conversation_id)
                           .where(Response.system == system).order_by(Response.id)).all()
    titles = {d: movie_titles(session, d) for d in {row[3] for row in rows}}
    return [(c, resolve_mentions(hyp, titles[d]), resolve_mentions(ref, titles[d])) for c, hyp, ref, d in rows]


def response_pairs(session: Session, system: str) -> list[tuple[str, str]]:
    """(system response, human reference) pairs, as `response_rows`."""
    return [(hyp, ref) for _, hyp, ref in response_rows(session, system)]


def delete_responses(session: Session, system: str) -> int:
    """Remove a system's responses (their rating tasks and ratings go with them); returns how many."""
    result = session.execute(delete(Response).where(Response.system == system))
    return int(result.rowcount)  # type: ignore[attr-defined]


def readable_response(session: Session, response: Response) -> tuple[list[dict[str, str]], str]:
    """The context turns ({role, text}) and the response, with @<id> placeholders shown as movie titles."""
    titles = movie_titles(session, session.get_one(Conversation, response.conversation_id).dataset_id)
    context = [{"role": u.role, "text": resolve_mentions(u.text, titles)} for u in response_context(session, response)]
    return context, resolve_mentions(response.text, titles)
