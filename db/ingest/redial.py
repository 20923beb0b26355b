"""ReDial parser: official jsonl (plain or .gz, raw or turn-merged) plus movies_with_mentions.csv."""
from __future__ import annotations

import csv
import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from db.errors import IngestError
from db.ingest.parsed import (
    ParsedAnswer,
    ParsedConversation,
    ParsedCorpus,
    ParsedMovie,
    ParsedTurn,
    infer_split,
    read_json_file,
    split_title_year,
)

MENTION_RE = re.compile(r"@(\d+)")
CATALOG_NAME = "movies_with_mentions.csv"
REQUIRED_KEYS = ("conversationId", "messages", "initiatorWorkerId")


def open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def find_redial_files(path: Path) -> tuple[Path | None, list[Path]]:
    """Return (catalog csv or None, conversation files) for a directory or a single file."""
    if path.is_file():
        if path.name.endswith(".csv"):
            return path, []
        catalog = path.parent / CATALOG_NAME
        return (catalog if catalog.exists() else None), [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or directory")
    catalog = path / CATALOG_NAME
    files = sorted(p for p in path.iterdir() if p.name.endswith((".jsonl", ".jsonl.gz", ".json")))
    return (catalog if catalog.exists() else None), files


def parse_catalog(path: Path, corpus: ParsedCorpus) -> None:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or header[:2] != ["movieId", "movieName"]:
            raise IngestError(path, 1, f"expected header movieId,movieName,nbMentions, got {header}")
        for row in reader:
            if len(row) < 2 or not row[0].strip().isdigit():
                raise IngestError(path, reader.line_num, f"malformed movie row {row!r}")
            title, year = split_title_year(row[1])
            mentions = int(row[2]) if len(row) > 2 and row[2].strip().isdigit() else None
            corpus.movies[row[0].strip()] = ParsedMovie(row[0].strip(), title, year, mentions)


def _answers(record: dict[str, Any], field: str, answered_by: str) -> Iterator[ParsedAnswer]:
    answers = record.get(field) or {}
    if not isinstance(answers, dict):
        raise ValueError(f"{field} must be an object")
    for movie_key, values in answers.items():
        if not isinstance(values, dict):
            raise ValueError(f"{field}[{movie_key}] must be an object")
        yield ParsedAnswer(
            str(movie_key), answered_by,
            _as_int(values.get("suggested")), _as_int(values.get("seen")), _as_int(values.get("liked")),
        )


def _as_int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()) else None


def parse_conversation_line(line: str, split: str, source: str) -> ParsedConversation:
    record = json.loads(line)
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object")
    missing = [key for key in REQUIRED_KEYS if key not in record]
    if missing:
        raise ValueError(f"missing field(s) {', '.join(missing)}")
    seeker = record["initiatorWorkerId"]
    turns = []
    for message in record["messages"]:
        if "text" not in message or "senderWorkerId" not in message:
            raise ValueError("a message lacks text or senderWorkerId")
        text = str(message["text"])
        keys = tuple(dict.fromkeys(MENTION_RE.findall(text)))
        role = "seeker" if message["senderWorkerId"] == seeker else "recommender"
        turns.append(ParsedTurn(role, text, keys))
    answers = (*_answers(record, "initiatorQuestions", "initiator"),
               *_answers(record, "respondentQuestions", "respondent"))
    titles = {str(k): str(v) for k, v in (record.get("movieMentions") or {}).items() if v}
    return ParsedConversation(str(record["conversationId"]), split, source, tuple(turns), answers, titles)


def parse_conversations(path: Path, corpus: ParsedCorpus, split: str | None = None) -> None:
    file_split = split or infer_split(path.name)
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                conversation = parse_conversation_line(line, file_split, path.name)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise IngestError(path, number, str(exc)) from exc
            for key in {k for turn in conversation.turns for k in turn.movie_keys} | {
                a.movie_key for a in conversation.answers
            }:
                corpus.add_movie_if_missing(key, conversation.movie_titles.get(key) or f"@{key}")
            corpus.conversations.append(conversation)


def attach_metadata(path: Path, corpus: ParsedCorpus) -> None:
    """id2info.json: movieId -> {genre, plot, director, star, ...}."""
    info = read_json_file(path)
    for key, movie in list(corpus.movies.items()):
        if key in info:
            meta = {k: v for k, v in info[key].items() if k != "name"}
            corpus.movies[key] = ParsedMovie(movie.key, movie.title, movie.year, movie.catalog_mentions, meta)


def parse_redial(path: Path, metadata: Path | None = None, split: str | None = None) -> ParsedCorpus:
    corpus = ParsedCorpus(dataset="redial")
    catalog, files = find_redial_files(path)
    if catalog is not None:
        parse_catalog(catalog, corpus)
    for file in files:
        parse_conversations(file, corpus, split)
    if metadata is not None:
        attach_metadata(metadata, corpus)
    return corpus
