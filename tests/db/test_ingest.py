from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.errors import IngestError
from db.ingest.service import ingest_corpus
from db.models import Conversation, Dataset, Mention, Movie, MovieAnswer, Utterance
from tests.factories import redial_line, write_redial_dir

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def table_counts(session: Session) -> dict[str, int]:
    return {m.__tablename__: session.scalar(select(func.count()).select_from(m)) or 0
            for m in (Dataset, Movie, Conversation, Utterance, Mention, MovieAnswer)}


def test_redial_rows_roles_mentions_answers(tmp_path: Path, session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as s:
        summary = ingest_corpus(s, "redial", write_redial_dir(tmp_path / "redial"))
    assert (summary.conversations_added, summary.utterances_added, summary.mentions_added) == (2, 6, 6)
    with session_factory() as s:
        conv = s.scalar(select(Conversation).where(Conversation.external_id == "100"))
        assert conv is not None and conv.split == "test"
        assert [u.role for u in conv.utterances] == ["seeker", "recommender", "seeker"]
        beta = s.scalar(select(Movie).where(Movie.external_id == "2"))
        assert beta is not None and (beta.title, beta.year, beta.catalog_mentions) == ("Beta (1999)", 1999, 3)
        second = conv.utterances[1]
        mentioned = set(s.scalars(select(Movie.external_id).join(Mention).where(Mention.utterance_id == second.id)))
        assert mentioned == {"1", "2"}
        answer = s.scalar(select(MovieAnswer).where(MovieAnswer.answered_by == "respondent",
                                                    MovieAnswer.conversation_id == conv.id))
        assert answer is not None and (answer.suggested, answer.seen, answer.liked) == (1, 0, 2)


def test_reingest_changes_nothing(tmp_path: Path, session_factory: sessionmaker[Session]) -> None:
    path = write_redial_dir(tmp_path / "redial")
    with session_factory.begin() as s:
        ingest_corpus(s, "redial", path)
    with session_factory() as s:
        before = table_counts(s)
    with session_factory.begin() as s:
        again = ingest_corpus(s, "redial", path)
    assert again.conversations_added == 0 and again.conversations_skipped == 2 and again.movies_added == 0
    with session_factory() as s:
        assert table_counts(s) == before


def test_malformed_line_names_file_and_line_and_writes_nothing(
    tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    good = redial_line(1, [(10, "hi @1")])
    path = write_redial_dir(tmp_path / "redial", [good, good.replace('"1"', '"2"', 1), "{not json", good])
    with pytest.raises(IngestError) as excinfo:
        with session_factory.begin() as s:
            ingest_corpus(s, "redial", path)
    assert excinfo.value.line == 3 and excinfo.value.path.endswith("test_data.jsonl")
    assert "test_data.jsonl:3:" in str(excinfo.value)
    with session_factory() as s:
        assert set(table_counts(s).values()) == {0}


def test_missing_field_is_reported(tmp_path: Path, session_factory: sessionmaker[Session]) -> None:
    line = redial_line(5, [(10, "hi")]).replace('"initiatorWorkerId"', '"someoneElse"')
    path = write_redial_dir(tmp_path / "redial", [line])
    with pytest.raises(IngestError, match=r"test_data.jsonl:1: missing field\(s\) initiatorWorkerId"):
        with session_factory.begin() as s:
            ingest_corpus(s, "redial", path)


def test_inspired_tsv_and_unicrs(tmp_path: Path, session_factory: sessionmaker[Session]) -> None:
    root = tmp_path / "inspired"
    root.mkdir()
    header = "dialog_id\tutt_id\tspeaker\tturn_id\ttext\tmovies\n"
    (root / "dev.tsv").write_text(header + "d1\t1\tRECOMMENDER\t1\tHi there\t\n"
                                  "d1\t2\tSEEKER\t1\tI loved QUOTATION_MARKJokerQUOTATION_MARK\tJoker (2019)\n"
                                  "d1\t3\tRECOMMENDER\t2\tTry Up\tUp (2009); Joker (2019)\n")
    (root / "dev_unicrs_format.jsonl").write_text('[{"role": "SEEKER", "text": "dup of dev", "movie": []}]\n')
    (root / "train_unicrs_format.jsonl").write_text(
        '[{"role": "SEEKER", "text": "hello", "movie": []}, {"role": "RECOMMENDER", "text": "Up!", "movie": ["Up (2009)"]}]\n')
    with session_factory.begin() as s:
        summary = ingest_corpus(s, "inspired", root)
    assert (summary.conversations_added, summary.utterances_added, summary.mentions_added) == (2, 5, 4)
    with session_factory() as s:
        texts = list(s.scalars(select(Utterance.text).order_by(Utterance.id)))
        assert texts[1] == 'I loved "Joker"'
        assert set(s.scalars(select(Conversation.split))) == {"dev", "train"}


def test_inspired_bad_turn_names_line(tmp_path: Path, session_factory: sessionmaker[Session]) -> None:
    path = tmp_path / "train_unicrs_format.jsonl"
    path.write_text('[{"role": "SEEKER", "text": "ok"}]\n[{"role": "ROBOT", "text": "??"}]\n')
    with pytest.raises(IngestError, match=r"train_unicrs_format.jsonl:2: each turn needs role"):
        with session_factory.begin() as s:
            ingest_corpus(s, "inspired", path)


@pytest.mark.skipif(not SHARED.exists(), reason="shared data not present")
def test_all_shared_data_twice_gives_identical_counts(session_factory: sessionmaker[Session]) -> None:
    for dataset in ("redial", "inspired"):
        with session_factory.begin() as s:
            ingest_corpus(s, dataset, SHARED / dataset)
    with session_factory() as s:
        first = table_counts(s)
    for dataset in ("redial", "inspired"):
        with session_factory.begin() as s:
            assert ingest_corpus(s, dataset, SHARED / dataset).conversations_added == 0
    with session_factory() as s:
        assert table_counts(s) == first
    assert first["conversations"] == 1342 + 3551 + 709 + 99 + 99 + 801
    assert first["movies"] >= 6924
