"""An offline relevance scorer for Beyond Single Labels' retrieved candidates, used when no endpoint is set.

It is NOT the paper's scorer (GPT-4 scores distilled into Gemma2-9B, reading the dialogue): it reads the item
knowledge graph. A candidate scores 0-4 against the movies the context has already named:
  2 x the share of the candidate's genres that a named movie also has, plus
  2 when it shares a person (star, director, writer) with a named movie;
a candidate the context already named scores 0, and a context that names no movie gives every candidate 0. Kept at
>= 3.5 (the paper's threshold) means: a shared person and at least three quarters of its genres in common.
Labels are stored under the scorer name `local-kg`, apart from any endpoint's."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from augment.multilabel import MultiLabelSummary, TurnQuery, pending_turns, retrieved, store_scores
from db.models import Dataset, KGFact, Movie

LOCAL_SCORER = "local-kg"
PERSON_RELATIONS = frozenset({"star", "director", "writer"})


class MovieFacts:
    """Genres and people of each movie of a dataset (from `kg_facts`)."""

    def __init__(self, rows: Iterable[tuple[int, str, str]]) -> None:
        self.genres: dict[int, set[str]] = defaultdict(set)
        self.people: dict[int, set[str]] = defaultdict(set)
        for movie, relation, entity in rows:
            if relation == "genre":
                self.genres[movie].add(entity.lower())
            elif relation in PERSON_RELATIONS:
                self.people[movie].add(entity)

    @classmethod
    def load(cls, session: Session, dataset: str) -> MovieFacts:
        return cls(session.execute(select(KGFact.movie_id, KGFact.relation, KGFact.entity)
                                   .join(Movie, Movie.id == KGFact.movie_id)
                                   .join(Dataset, Dataset.id == Movie.dataset_id)
                                   .where(Dataset.name == dataset)).all())


def kg_relevance(candidate: int, named: tuple[int, ...], facts: MovieFacts) -> float:
    """0-4: genre share (0-2) + shared person (0 or 2), against the movies the context named (module docstring)."""
    if not named or candidate in named:
        return 0.0
    genres = facts.genres.get(candidate, set())
    named_genres = set().union(*(facts.genres.get(m, set()) for m in named))
    genre_share = len(genres & named_genres) / len(genres) if genres else 0.0
    named_people = set().union(*(facts.people.get(m, set()) for m in named))
    shares_person = bool(facts.people.get(candidate, set()) & named_people)
    return 2.0 * genre_share + 2.0 * shares_person


def label_turns_locally(session_factory: sessionmaker[Session], dataset: str, *, top_k: int = 50,
                        limit: int | None = None, splits: tuple[str, ...] = ("train",), keep: float = 3.5,
                        chunk: int = 500, progress: bool = True) -> MultiLabelSummary:
    """The paper's retriever (top-K by SBERT), then `kg_relevance` for each candidate; written `chunk` turns per
    transaction, so a killed run keeps what it stored and a rerun labels only the rest."""
    queries, movies = pending_turns(session_factory, dataset, LOCAL_SCORER, splits, limit)
    if not queries:
        return MultiLabelSummary(LOCAL_SCORER, 0, 0, 0, 0, 0)
    with session_factory() as session:
        facts = MovieFacts.load(session, dataset)
    candidates = retrieved(queries, movies, top_k, progress)
    relevant = labelled = 0
    for start in range(0, len(queries), chunk):
        part: list[tuple[TurnQuery, dict[int, float], int]] = []
        for n in range(start, min(start + chunk, len(queries))):
            scores = {i: kg_relevance(movies[c].id, queries[n].context_movies, facts)
                      for i, c in enumerate(candidates[n])}
            part.append((queries[n], scores, n))
        stored = store_scores(session_factory, [(q, candidates[n], scores) for q, scores, n in part], movies,
                              LOCAL_SCORER)
        labelled += len(stored)
        relevant += sum(s >= keep for q, scores, _ in part if (q.conversation_id, q.turn_position) in stored
                        for s in scores.values())
    return MultiLabelSummary(LOCAL_SCORER, len(queries), labelled, relevant, 0, 0)
