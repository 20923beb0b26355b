"""Beyond Single Labels: a semantic retriever proposes top-K movies per recommender turn, an LLM scores each
0-4; the scores become multi-label soft targets for two-stage training (kept when >= 3.5 by the trainer)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from augment.concurrency import run_calls
from augment.llm import ChatModel, Completion
from augment.prompts import render_messages
from augment.structured import RelevanceReply, extract_json
from db.engine import write_transaction
from db.models import RelevanceLabel
from db.queries.corpus import list_dialogues, list_movies
from db.types import Dialogue, MovieInfo
from lm.embeddings import encode_texts


@dataclass(frozen=True)
class TurnQuery:
    conversation_id: int
    turn_position: int
    context: str
    context_movies: tuple[int, ...] = ()  # movies the context names, in order (the local scorer reads them)


@dataclass(frozen=True)
class MultiLabelSummary:
    scorer: str
    turns: int
    labelled: int
    relevant: int
    invalid: int
    failed_calls: int
    interrupted: bool = False


def recommender_turns(dialogues: list[Dialogue], max_turns: int = 6) -> list[TurnQuery]:
    """Recommender turns that mention a movie, with their preceding context (newest first)."""
    queries = []
    for dialogue in dialogues:
        history: list[str] = []
        named: list[int] = []
        for position, turn in enumerate(dialogue.turns):
            if turn.role == "recommender" and turn.movie_ids and history:
                queries.append(TurnQuery(dialogue.conversation_id or 0, position,
                                         "\n".join(reversed(history[-max_turns:])), tuple(dict.fromkeys(named))))
            history.append(f"{turn.role.capitalize()}: {turn.text}")
            named.extend(turn.movie_ids)
    return queries


def retrieve(context_emb: np.ndarray, item_emb: np.ndarray, k: int) -> np.ndarray:
    """Top-k item indices by cosine similarity (embeddings are L2-normalised)."""
    k = min(k, item_emb.shape[0])
    scores = context_emb @ item_emb.T
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def parse_scores(text: str, n_candidates: int) -> dict[int, float] | None:
    """{"scores": {"1": 3, ...}} -> {0-based candidate: score}; None when malformed."""
    try:
        data = extract_json(text)
        raw = data["scores"] if isinstance(data, dict) and "scores" in data else data
        scores = {int(k) - 1: float(v) for k, v in raw.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return {i: s for i, s in scores.items() if 0 <= i < n_candidates and 0.0 <= s <= 4.0}


def movie_text(movie: MovieInfo) -> str:
    return f"{movie.title}. {', '.join(movie.genres)}. {movie.plot}"


def pending_turns(session_factory: sessionmaker[Session], dataset: str, scorer: str, splits: tuple[str, ...],
                  limit: int | None) -> tuple[list[TurnQuery], list[MovieInfo]]:
    """The dataset's recommender turns this scorer has not labelled yet (a resumed run skips the rest), and its movies."""
    with session_factory() as session:
        queries = recommender_turns(list_dialogues(session, dataset, splits))
        done = set(session.execute(select(RelevanceLabel.conversation_id, RelevanceLabel.turn_position)
                                   .where(RelevanceLabel.scorer == scorer)).all())
        movies = list_movies(session, dataset)
    return [q for q in queries if (q.conversation_id, q.turn_position) not in done][:limit], movies


def retrieved(queries: list[TurnQuery], movies: list[MovieInfo], top_k: int, progress: bool) -> np.ndarray:
    """The semantic retriever: each turn's top-K movies by SBERT cosine between its context and the movie's text."""
    item_emb = encode_texts([movie_text(m) for m in movies], progress=progress)
    return retrieve(encode_texts([q.context for q in queries], progress=progress), item_emb, top_k)


def store_scores(session_factory: sessionmaker[Session],
                 rows: list[tuple[TurnQuery, np.ndarray, dict[int, float]]], movies: list[MovieInfo],
                 scorer: str) -> set[tuple[int, int]]:
    """Each turn's scores ({candidate position: 0-4}) in one transaction, a turn whole or not at all. A turn this
    scorer already labelled (another run of it at once got there first) is skipped, never stored twice: read again
    inside the write, and a key that lands meanwhile is caught by the unique constraint in the turn's savepoint.
    Returns the turns (conversation id, position) this call stored."""
    stored: set[tuple[int, int]] = set()
    with write_transaction(session_factory) as session:
        done = set(session.execute(select(RelevanceLabel.conversation_id, RelevanceLabel.turn_position).where(
            RelevanceLabel.scorer == scorer,
            RelevanceLabel.conversation_id.in_({q.conversation_id for q, _, _ in rows}))).all())
        for query, candidates, scores in rows:
            if (query.conversation_id, query.turn_position) in done:
                continue
            try:
                with session.begin_nested():
                    session.add_all(RelevanceLabel(conversation_id=query.conversation_id,
                                                   turn_position=query.turn_position,
                                                   movie_id=movies[candidates[i]].id, scorer=scorer, score=s,
                                                   retrieval_rank=i + 1) for i, s in scores.items())
                    session.flush()
            except IntegrityError:
                continue
            stored.add((query.conversation_id, query.turn_position))
    return stored


def label_turns(session_factory: sessionmaker[Session], dataset: str, scorer: ChatModel, *, top_k: int = 50,
                limit: int | None = None, splits: tuple[str, ...] = ("train",), keep: float = 3.5,
                concurrency: int = 4, max_tokens: int = 1024, progress: bool = True) -> MultiLabelSummary:
    queries, movies = pending_turns(session_factory, dataset, scorer.name, splits, limit)
    if not queries:
        return MultiLabelSummary(scorer.name, 0, 0, 0, 0, 0)
    candidates = retrieved(queries, movies, top_k, progress)
    labelled = relevant = invalid = failed = 0

    def score(n: int) -> Completion:
        titles = [movies[i].title for i in candidates[n]]
        return scorer.complete(render_messages("relevance", context=queries[n].context, candidates=titles),
                               schema=RelevanceReply, temperature=0.0, max_tokens=max_tokens)

    batch = run_calls(score, range(len(queries)), concurrency=concurrency, desc="relevance", progress=progress)
    for n, reply in batch:
        scores = parse_scores(reply.text, len(candidates[n])) if reply else None
        if reply is None or scores is None:
            failed, invalid = failed + (reply is None), invalid + (reply is not None)
            continue
        if store_scores(session_factory, [(queries[n], candidates[n], scores)], movies, scorer.name):
            labelled += 1
            relevant += sum(s >= keep for s in scores.values())
    return MultiLabelSummary(scorer.name, len(queries), labelled, relevant, invalid, failed, batch.interrupted)
