"""The near-duplicate rule as a property of the threshold (fast selection, both backends). The sentence encoder is
replaced by a fixed table of unit vectors, so each candidate's cosine to its prototype is known exactly; the real
encoder's part is covered by the slow pipeline tests."""
from __future__ import annotations

import math

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

import augment.filtering as filtering
from augment.filtering import FilterSummary, filter_near_duplicates, turns_text
from db.models import Candidate
from tests.factories import PROTOTYPE_TURNS, make_generated_candidates

SIMILARITIES = [0.30, 0.60, 0.84, 0.86, 0.875, 0.95]  # 0.875 is exact in binary: ties are testable
PROTOTYPE_TEXT = "\n".join(f"{role}: {text}" for role, text in PROTOTYPE_TURNS)


@pytest.fixture
def table_encoder(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The encoder as a table; returns the encoder paths it was asked for."""
    vectors = {PROTOTYPE_TEXT: np.array([1.0, 0.0], dtype=np.float32)}
    for i, sim in enumerate(SIMILARITIES):
        vectors[f"seeker: candidate {i}"] = np.array([sim, math.sqrt(1 - sim * sim)], dtype=np.float32)
    encoders: list[object] = []

    def encode(texts: list[str], path: object = None, **kwargs: object) -> np.ndarray:
        encoders.append(path)
        return np.stack([vectors[t] for t in texts])

    monkeypatch.setattr(filtering, "encode_texts", encode)
    return encoders


def make_candidates(session: Session, dataset: str = "toy") -> list[int]:
    return make_generated_candidates(session, [None] * len(SIMILARITIES), dataset)


@pytest.mark.parametrize("threshold", [0.5, 0.85, 0.875, 0.9, 0.99])
def test_only_candidates_above_the_threshold_are_discarded(session: Session, table_encoder: list[object],
                                                           threshold: float) -> None:
    ids = make_candidates(session)
    summary = filter_near_duplicates(session, "toy", threshold, progress=False)
    duplicates = [sim > threshold for sim in SIMILARITIES]
    n = len(SIMILARITIES)
    assert (summary.checked, summary.duplicates, summary.kept) == (n, sum(duplicates), n - sum(duplicates))
    assert summary.threshold == threshold
    for candidate_id, sim, duplicate in zip(ids, SIMILARITIES, duplicates):
        candidate = session.get_one(Candidate, candidate_id)
        assert candidate.similarity_to_prototype == pytest.approx(sim, abs=1e-6)
        assert candidate.status == ("duplicate" if duplicate else "generated")


def test_each_candidate_is_checked_once_and_limit_bounds_a_run(session: Session, table_encoder: list[object]) -> None:
    ids = make_candidates(session)
    first = filter_near_duplicates(session, "toy", 0.85, progress=False, limit=2)
    assert (first.checked, first.duplicates) == (2, 0)
    rest = filter_near_duplicates(session, "toy", 0.85, progress=False)
    assert (rest.checked, rest.duplicates, rest.kept) == (4, 3, 1)
    assert filter_near_duplicates(session, "toy", 0.85, progress=False) == FilterSummary(0, 0, 0, 0.85)
    assert [session.get_one(Candidate, i).status for i in ids] == ["generated"] * 3 + ["duplicate"] * 3
    assert filter_near_duplicates(session, "other", 0.85, progress=False).checked == 0


def test_the_default_threshold_is_the_papers_and_the_encoder_is_the_one_asked_for(
        session: Session, table_encoder: list[object]) -> None:
    make_candidates(session)
    summary = filter_near_duplicates(session, "toy", encoder_path="/models/my-sbert", progress=False)
    assert (summary.threshold, summary.duplicates) == (0.85, 3)  # 0.86, 0.875, 0.95
    assert table_encoder == ["/models/my-sbert", "/models/my-sbert"]


def test_only_generated_candidates_are_checked(session: Session, table_encoder: list[object]) -> None:
    ids = make_candidates(session)
    for candidate_id, status in zip(ids, ["auto_accepted", "needs_review", "discarded"]):
        session.get_one(Candidate, candidate_id).status = status
    session.flush()
    summary = filter_near_duplicates(session, "toy", 0.5, progress=False)
    assert summary.checked == len(SIMILARITIES) - 3
    assert [session.get_one(Candidate, i).similarity_to_prototype is None for i in ids[:4]] == [True] * 3 + [False]


def test_a_dialogue_reads_as_role_prefixed_lines() -> None:
    turns = [{"role": "seeker", "text": "hi"}, {"role": "recommender", "text": "Try Heat"}]
    assert turns_text(turns) == "seeker: hi\nrecommender: Try Heat"


def test_another_process_can_write_while_the_filter_encodes(session_factory: sessionmaker[Session], database_url: str,
                                                            table_encoder: list[object],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands' filter (`filter_in_short_writes`) holds no transaction while the encoder runs: a second
    connection that gives up after 1 s (a reviewer's verdict, a training run's metrics) writes meanwhile. On SQLite
    a write transaction locks the whole database, so encoding inside one would make that write fail."""
    from sqlalchemy import create_engine, text, update

    from db.models import Prototype

    with session_factory() as session:
        ids = make_candidates(session)
        session.commit()
    impatient = create_engine(database_url, connect_args={"timeout": 1} if database_url.startswith("sqlite")
                              else {"options": "-c lock_timeout=1000"})
    encode = filtering.encode_texts
    writes: list[int] = []

    def encode_while_someone_writes(texts: list[str], path: object = None, **kwargs: object) -> np.ndarray:
        with impatient.begin() as connection:
            writes.append(connection.execute(update(Prototype).values(score=0.5)).rowcount)
            connection.execute(text("SELECT 1"))
        return encode(texts, path, **kwargs)

    monkeypatch.setattr(filtering, "encode_texts", encode_while_someone_writes)
    summary = filtering.filter_in_short_writes(session_factory, "toy", 0.85, progress=False)
    impatient.dispose()
    assert writes == [1, 1] and (summary.checked, summary.duplicates) == (len(SIMILARITIES), 3)
    with session_factory() as session:
        assert [session.get_one(Candidate, i).status for i in ids] == ["generated"] * 3 + ["duplicate"] * 3


def test_a_candidate_another_run_filtered_meanwhile_is_left_as_it_is(session_factory: sessionmaker[Session],
                                                                     table_encoder: list[object]) -> None:
    """Two filters at once: the second stores nothing over what the first stored."""
    with session_factory() as session:
        ids = make_candidates(session)
        session.commit()
        pending = filtering.pending_pairs(session, "toy")
    first = filtering.filter_in_short_writes(session_factory, "toy", 0.85, progress=False)
    with session_factory() as session:
        late = filtering.apply_similarities(session, pending.ids, np.zeros(len(pending.ids)), 0.85)
        assert late == (0, 0) and session.get_one(Candidate, ids[-1]).status == "duplicate"
    assert first.checked == len(SIMILARITIES)
