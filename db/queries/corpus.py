"""Read the corpus as DTOs: dialogues with per-turn movie ids, and movie info."""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Conversation, Mention, Movie, Utterance
from db.queries.longtail import get_dataset_or_raise
from db.types import Dialogue, MovieInfo, Turn

MENTION_RE = re.compile(r"@(\d+)")


def resolve_mentions(text: str, titles: dict[str, str]) -> str:
    """ReDial writes movies as @<id>; replace each with its title where known."""
    return MENTION_RE.sub(lambda m: titles.get(m.group(1), m.group(0)), text)


def movie_titles(session: Session, dataset_id: int) -> dict[str, str]:
    """External movie id -> title, for resolving ReDial's @<id> placeholders."""
    return dict(session.execute(select(Movie.external_id, Movie.title).where(Movie.dataset_id == dataset_id)).all())


def readable_turns(session: Session, conversation_id: int) -> list[dict[str, str]]:
    """A stored conversation as [{role, text}] with @<id> placeholders replaced by titles."""
    conversation = session.get_one(Conversation, conversation_id)
    titles = movie_titles(session, conversation.dataset_id)
    return [{"role": u.role, "text": resolve_mentions(u.text, titles)} for u in conversation.utterances]


def list_dialogues(session: Session, dataset: str, splits: Sequence[str] | None = None,
                   origin: str = "original", readable: bool = True) -> list[Dialogue]:
    """Dialogues in id order; with `readable`, @<id> placeholders become movie titles."""
    ds = get_dataset_or_raise(session, dataset)
    titles = movie_titles(session, ds.id) if readable else {}
    conv_filter = [Conversation.dataset_id == ds.id, Conversation.origin == origin]
    if splits:
        conv_filter.append(Conversation.split.in_(list(splits)))
    mentions: dict[int, list[int]] = defaultdict(list)
    mention_rows = session.execute(
        select(Mention.utterance_id, Mention.movie_id)
        .join(Utterance, Utterance.id == Mention.utterance_id)
        .join(Conversation, Conversation.id == Utterance.conversation_id)
        .where(*conv_filter).order_by(Mention.id))
    for utterance_id, movie_id in mention_rows:
        mentions[utterance_id].append(movie_id)
    rows = session.execute(
        select(Conversation.id, Conversation.external_id, Conversation.split,
               Utterance.id, Utterance.role, Utterance.text)
        .join(Utterance, Utterance.conversation_id == Conversation.id)
        .where(*conv_filter).order_by(Conversation.id, Utterance.position))
    grouped: dict[int, tuple[str, str, list[Turn]]] = {}
    for conv_id, ext_id, split, utt_id, role, text in rows:
        entry = grouped.setdefault(conv_id, (ext_id, split, []))
        entry[2].append(Turn(role="seeker" if role == "seeker" else "recommender",
                             text=resolve_mentions(text, titles) if titles else text,
                             movie_ids=tuple(mentions.get(utt_id, ()))))
    return [Dialogue(conversation_id=cid, external_id=ext, dataset=dataset, split=split,
                     origin="augmented" if origin == "augmented" else "original", turns=tuple(turns))
            for cid, (ext, split, turns) in grouped.items()]


def list_movies(session: Session, dataset: str) -> list[MovieInfo]:
    ds = get_dataset_or_raise(session, dataset)
    movies = session.scalars(select(Movie).where(Movie.dataset_id == ds.id).order_by(Movie.id))
    return [movie_info(m) for m in movies]


def movie_info(movie: Movie) -> MovieInfo:
    meta = movie.meta or {}
    genres = meta.get("genre") or meta.get("genres") or []
    plot = meta.get("plot") or meta.get("description") or ""
    return MovieInfo(id=movie.id, external_id=movie.external_id, title=movie.title, year=movie.year,
                     genres=tuple(str(g).lower() for g in genres if g), plot=str(plot))
