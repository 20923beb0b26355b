"""Malformed corpus input: one line naming the file and line (or the file, for a broken archive), exit 2, nothing
written; values a backend cannot store are refused before writing, identically on SQLite and PostgreSQL."""
from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from db.models import Movie
from lumicrs_cli import app
from tests.db.test_ingest import table_counts
from tests.factories import MOVIES_CSV, redial_line, write_redial_dir

GOOD = redial_line(100, [(10, "hi, I liked @1"), (20, "try @2")])


def corpus(root: Path, data: bytes | str, name: str = "test_data.jsonl") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "movies_with_mentions.csv").write_text(MOVIES_CSV)
    (root / name).write_bytes(data if isinstance(data, bytes) else data.encode())
    return root


def line_with(**changes: object) -> str:
    record = json.loads(GOOD)
    record.update(changes)
    return json.dumps(record)


CASES: dict[str, tuple[Callable[[Path], Path], list[str], str]] = {
    "non-utf8": (lambda p: corpus(p, GOOD.encode() + b"\n" + GOOD.replace("hi", "h\xe9").encode("latin-1") + b"\n"),
                 [], "test_data.jsonl:2: not UTF-8"),
    "truncated-gz": (lambda p: corpus(p, gzip.compress(((GOOD + "\n") * 200).encode())[:-40], "test_data.jsonl.gz"), [],
                     "test_data.jsonl.gz: truncated gzip archive"),
    "fake-gz": (lambda p: corpus(p, GOOD + "\n", "test_data.jsonl.gz"), [], "test_data.jsonl.gz: not a gzip archive"),
    "nul": (lambda p: corpus(p, redial_line(100, [(10, "hi\x00there"), (20, "@1")]) + "\n"), [],
            "test_data.jsonl:1: message 1 text contains a NUL character"),
    "long-id": (lambda p: corpus(p, line_with(conversationId="9" * 300) + "\n"), [],
                "test_data.jsonl:1: conversationId has 300 characters; at most 255"),
    "long-split": (lambda p: corpus(p, GOOD + "\n"), ["--split", "x" * 40], "--split has 40 characters"),
    "no-messages": (lambda p: corpus(p, GOOD + "\n" + line_with(conversationId="101", messages=[]) + "\n"), [],
                    "test_data.jsonl:2: the conversation has no messages"),
    "null-text": (lambda p: corpus(p, line_with(messages=[{"senderWorkerId": 10, "text": None, "messageId": 1}]) + "\n"),
                  [], "test_data.jsonl:1: message 1: text is null"),
    "object-id": (lambda p: corpus(p, line_with(conversationId={"a": 1}) + "\n"), [],
                  "test_data.jsonl:1: conversationId must be a string or an integer"),
    "empty-file": (lambda p: corpus(p, ""), [], "test_data.jsonl: no conversations in this file"),
    "no-corpus-files": (lambda p: (p / "empty").mkdir(parents=True) or p / "empty", [], "no ReDial files here"),
    "bad-metadata": (lambda p: corpus(p, GOOD + "\n"), ["--metadata", "META"], "id2info.json: entry '1' is not an object"),
    "long-mention-id": (lambda p: corpus(p, redial_line(100, [(10, "hi @" + "9" * 300), (20, "@1")]) + "\n"), [],
                        "test_data.jsonl:1: message 1 movie id has 300 characters; at most 255"),
    "nul-in-metadata": (lambda p: corpus(p, GOOD + "\n"), ["--metadata", "NULMETA"],
                        "id2info.json:5: entry '2'.plot contains a NUL character"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_input_is_one_line_and_writes_nothing(case: str, tmp_path: Path, database_url: str,
                                                        session_factory: sessionmaker[Session]) -> None:
    build, extra, expected = CASES[case]
    path = build(tmp_path / "redial")
    meta = tmp_path / "id2info.json"
    meta.write_text(json.dumps({"1": "not an object"}))
    nul_meta = tmp_path / "nul" / "id2info.json"
    nul_meta.parent.mkdir()
    nul_meta.write_text(json.dumps({"1": {"plot": "fine"}, "2": {"plot": "bad\x00plot"}}, indent=0))
    args = [{"META": str(meta), "NULMETA": str(nul_meta)}.get(a, a) for a in extra]
    result = CliRunner().invoke(app, ["ingest", "redial", str(path), *args])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in result.output, result.output
    with session_factory() as s:
        assert set(table_counts(s).values()) == {0}


def test_unknown_mention_ids_are_counted_not_invented(tmp_path: Path, database_url: str,
                                                      session_factory: sessionmaker[Session]) -> None:
    path = write_redial_dir(tmp_path / "redial", [redial_line(100, [(10, "hi @1"), (20, "try @999999999 or @2")])])
    result = CliRunner().invoke(app, ["ingest", "redial", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["unknown_mentions_skipped"] == 1 and summary["mentions_added"] == 2
    with session_factory() as s:
        assert s.query(Movie).filter(Movie.external_id == "999999999").count() == 0



def test_a_single_file_without_a_movie_list_invents_no_movie(tmp_path: Path, database_url: str,
                                                             session_factory: sessionmaker[Session]) -> None:
    """Mentions that neither a movie list nor the conversation's movieMentions can name are dropped and counted."""
    folder = tmp_path / "alone"
    folder.mkdir()
    line = redial_line(100, [(10, "hi @1"), (20, "try @999999999 or @2")])
    (folder / "dialogues.jsonl").write_text(line + "\n")
    result = CliRunner().invoke(app, ["ingest", "redial", str(folder / "dialogues.jsonl"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["unknown_mentions_skipped"] == 1 and summary["mentions_added"] == 2
    with session_factory() as s:
        titles = sorted(m.title for m in s.query(Movie))
        assert titles == ["Alpha (2001)", "Beta (1999)"] and not any(t.startswith("@") for t in titles)


def test_a_nul_in_an_inspired_metadata_title_is_refused(tmp_path: Path, database_url: str,
                                                        session_factory: sessionmaker[Session]) -> None:
    folder = tmp_path / "inspired"
    folder.mkdir()
    (folder / "test_unicrs_format.jsonl").write_text(json.dumps(
        [{"role": "SEEKER", "text": "hi", "movie": []}, {"role": "RECOMMENDER", "text": "Alpha", "movie": ["Alpha (2001)"]}])
        + "\n")
    meta = tmp_path / "movie_kg.json"
    meta.write_text(json.dumps({"Alpha (2001)": {"genres": ["drama"]}, "Bad\x00Title (2002)": {"genres": []}}, indent=0))
    result = CliRunner().invoke(app, ["ingest", "inspired", str(folder), "--metadata", str(meta)])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "movie_kg.json:7: movie id contains a NUL character" in lines[0]
    with session_factory() as s:
        assert set(table_counts(s).values()) == {0}
