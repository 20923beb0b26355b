"""Write a parsed corpus idempotently: rows already present (by natural key) are left alone.

The caller owns the transaction, so a failure anywhere writes nothing.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import insert, select
from sqlalchemy.orm import Session
from tqdm import tqdm

from db.ingest.parsed import ParsedConversation, ParsedCorpus
from db.models import Conversation, Dataset, Mention, Movie, MovieAnswer, Utterance

T = TypeVar("T")
BATCH = 2000


@dataclass(frozen=True)
class IngestSummary:
    dataset: str
    movies_added: int
    conversations_added: int
    conversations_skipped: int
    utterances_added: int
    mentions_added: int
    unknown_mentions_skipped: int = 0  # mentions of ids absent from the movie list (reported, not stored)
    kg_facts_added: int = 0  # item knowledge-graph edges (db.ingest.kg), when the graph is staged beside the corpus
    kg_items_matched: int = 0
    kg_items_unmatched: int = 0  # graph movies whose title is not in the movie list (reported, not stored)


def chunks(items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def get_or_create_dataset(session: Session, name: str) -> Dataset:
    dataset = session.scalar(select(Dataset).where(Dataset.name == name))
    if dataset is None:
        dataset = Dataset(name=name)
        session.add(dataset)
        session.flush()
    return dataset


def _upsert_movies(session: Session, dataset: Dataset, corpus: ParsedCorpus) -> tuple[dict[str, int], int]:
    existing = dict(session.execute(
        select(Movie.external_id, Movie.id).where(Movie.dataset_id == dataset.id)).all())
    new_rows = [
        {"dataset_id": dataset.id, "external_id": m.key, "title": m.title[:512], "year": m.year,
         "catalog_mentions": m.catalog_mentions, "meta": m.meta}
        for key, m in corpus.movies.items() if key not in existing
    ]
    for batch in chunks(new_rows):
        stmt = insert(Movie).returning(Movie.external_id, Movie.id)  # keyed by external id: any order will do
        existing.update(session.execute(stmt, list(batch)).all())
    return existing, len(new_rows)


def _insert_returning(session: Session, model: Any, rows: list[dict[str, Any]], *cols: Any) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for batch in chunks(rows):
        stmt = insert(model).returning(*cols, sort_by_parameter_order=True)
        out.extend(session.execute(stmt, list(batch)).all())
    return out


def _insert_plain(session: Session, model: Any, rows: Iterable[dict[str, Any]]) -> int:
    materialised = list(rows)
    for batch in chunks(materialised):
        session.execute(insert(model), list(batch))
    return len(materialised)


def _write_conversations(
    session: Session, dataset: Dataset, new: list[ParsedConversation], movie_ids: dict[str, int]
) -> tuple[int, int]:
    conv_rows = [{"dataset_id": dataset.id, "external_id": c.key, "split": c.split, "source_file": c.source_file}
                 for c in new]  # origin: the column's default, "original"
    conv_ids = [cid for (cid,) in _insert_returning(session, Conversation, conv_rows, Conversation.id)]
    utt_rows: list[dict[str, Any]] = []
    answer_rows: list[dict[str, Any]] = []
    for conv_id, conv in zip(conv_ids, tqdm(new, desc="conversations", unit="conv", leave=False)):
        utt_rows.extend({"conversation_id": conv_id, "position": i, "role": t.role, "text": t.text}
                        for i, t in enumerate(conv.turns))
        seen_answers: set[tuple[str, str]] = set()
        for a in conv.answers:
            if (a.movie_key, a.answered_by) in seen_answers or a.movie_key not in movie_ids:
                continue
            seen_answers.add((a.movie_key, a.answered_by))
            answer_rows.append({"conversation_id": conv_id, "movie_id": movie_ids[a.movie_key],
                                "answered_by": a.answered_by, "suggested": a.suggested,
                                "seen": a.seen, "liked": a.liked})
    utt_ids = [uid for (uid,) in _insert_returning(session, Utterance, utt_rows, Utterance.id)]
    turns = [t for conv in new for t in conv.turns]
    mention_rows = ({"utterance_id": uid, "movie_id": movie_ids[key]}
                    for uid, turn in zip(utt_ids, turns) for key in turn.movie_keys)
    mentions = _insert_plain(session, Mention, mention_rows)
    _insert_plain(session, MovieAnswer, answer_rows)
    return len(utt_rows), mentions


def write_corpus(session: Session, corpus: ParsedCorpus) -> IngestSummary:
    dataset = get_or_create_dataset(session, corpus.dataset)
    movie_ids, movies_added = _upsert_movies(session, dataset, corpus)
    existing = set(session.scalars(select(Conversation.external_id).where(Conversation.dataset_id == dataset.id)))
    new: list[ParsedConversation] = []
    for conv in corpus.conversations:
        if conv.key not in existing:
            existing.add(conv.key)
            new.append(conv)
    utterances, mentions = _write_conversations(session, dataset, new, movie_ids)
    return IngestSummary(corpus.dataset, movies_added, len(new), len(corpus.conversations) - len(new),
                         utterances, mentions, corpus.unknown_mentions_skipped)
