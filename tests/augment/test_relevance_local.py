"""The offline relevance scorer (augment/relevance_local.py): its 0-4 rule by hand, and a labelling run that a
rerun resumes without labelling a turn twice, on both backends."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from augment.multilabel import recommender_turns
from augment.relevance_local import LOCAL_SCORER, MovieFacts, kg_relevance, label_turns_locally
from db.models import KGFact, Movie, RelevanceLabel
from db.queries.corpus import list_dialogues
from tests.trainer.test_train_cli import build_toy_corpus

FACTS = MovieFacts([(1, "genre", "Drama"), (1, "genre", "Crime"), (1, "director", "Ann Lee"),
                    (2, "genre", "drama"), (2, "genre", "crime"), (2, "star", "Ann Lee"),
                    (3, "genre", "drama"), (3, "genre", "comedy"), (3, "genre", "crime"), (3, "genre", "war"),
                    (4, "star", "Bo Li"), (5, "genre", "crime"), (5, "writer", "Ann Lee")])


def test_the_local_relevance_scorer_by_hand() -> None:
    """2 x the share of the candidate's genres a named movie has + 2 for a person in common; 0 for a movie the
    context named or a context naming none. Kept at >= 3.5: a shared person and >= 3/4 of the genres."""
    assert kg_relevance(2, (1,), FACTS) == 4.0                   # both genres, Ann Lee (star there, director here)
    assert kg_relevance(3, (1,), FACTS) == pytest.approx(2.0 * 2 / 4)  # drama, crime of four; no person
    assert kg_relevance(5, (1,), FACTS) == 4.0                   # its one genre, and Ann Lee as writer
    assert kg_relevance(4, (1,), FACTS) == 0.0                   # no genre at all, no shared person
    assert kg_relevance(5, (4,), FACTS) == 0.0
    assert kg_relevance(3, (1, 4), FACTS) == pytest.approx(1.0)  # the named movies' genres are pooled
    assert kg_relevance(1, (1, 2), FACTS) == 0.0 and kg_relevance(2, (), FACTS) == 0.0


def test_the_context_movies_are_the_ones_named_before_the_turn(session: Session) -> None:
    build_toy_corpus(session)
    queries = recommender_turns(list_dialogues(session, "toy", ("train",)))
    assert queries and all(len(q.context_movies) == 1 for q in queries)  # the seeker's one movie, not the target


def test_a_labelling_run_resumes_where_it_stopped(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        build_toy_corpus(session)
        for movie in session.scalars(select(Movie)):
            session.add(KGFact(movie_id=movie.id, relation="genre", entity="drama", entity_type="genre"))
            session.add(KGFact(movie_id=movie.id, relation="star", entity="Same Star", entity_type="person"))
        session.commit()
    first = label_turns_locally(session_factory, "toy", top_k=3, limit=2, progress=False)
    assert (first.scorer, first.turns, first.labelled) == (LOCAL_SCORER, 2, 2)
    rest = label_turns_locally(session_factory, "toy", top_k=3, progress=False)
    again = label_turns_locally(session_factory, "toy", top_k=3, progress=False)
    assert rest.turns >= 1 and again.turns == 0
    with session_factory() as session:
        per_turn = session.execute(select(RelevanceLabel.conversation_id, RelevanceLabel.turn_position, func.count())
                                   .group_by(RelevanceLabel.conversation_id, RelevanceLabel.turn_position)).all()
        assert len(per_turn) == first.turns + rest.turns and {n for *_, n in per_turn} == {3}
        kept = session.scalar(select(func.count()).select_from(RelevanceLabel).where(RelevanceLabel.score >= 3.5))
        assert kept == first.relevant + rest.relevant > 0  # same genre and star as the named movie: 4
