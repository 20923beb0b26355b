"""ReDial parser: official jsonl (plain or .gz, raw or turn-merged) plus movies_with_mentions.csv."""
from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from db.errors import IngestError
from db.fields import storable, text_field
from db.ingest.parsed import (
    ParsedAnswer,
    ParsedConversation,
    ParsedCorpus,
    ParsedMovie,
    ParsedTurn,
    identifier,
    infer_split,
    line_of,
    numbered_lines,
    read_json_file,
    read_text,
    split_title_year,
    storable_tree,
)
from db.models import Conversation, Movie

MENTION_RE = re.compile(r"@(\d+)")
CATALOG_NAME = "movies_with_mentions.csv"
REQUIRED_KEYS = ("conversationId", "messages", "initiatorWorkerId")


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
    if not files and not catalog.exists():
        raise IngestError(path, None, f"no ReDial files here (*.jsonl, *.jsonl.gz or {CATALOG_NAME})")
    return (catalog if catalog.exists() else None), files


def parse_catalog(path: Path, corpus: ParsedCorpus) -> None:
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    header = next(reader, None)
    if header is None or header[:2] != ["movieId", "movieName"]:
        raise IngestError(path, 1, f"expected header movieId,movieName,nbMentions, got {header}")
    for row in reader:
        try:
            if len(row) < 2 or not row[0].strip().isdigit():
                raise ValueError(f"malformed movie row {row!r}")
            key = storable(row[0].strip(), "movieId", Movie.__table__.c.external_id)
            title, year = split_title_year(storable(row[1], "movieName", Movie.__table__.c.title))
        except ValueError as exc:
            raise IngestError(path, reader.line_num, str(exc)) from exc
        mentions = int(row[2]) if len(row) > 2 and row[2].strip().isdigit() else None
        corpus.movies[key] = ParsedMovie(key, title, year, mentions)
    if not corpus.movies:
        raise IngestError(path, None, "the movie list has no movies")
    corpus.has_catalog = True


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
    key = storable(identifier(record["conversationId"], "conversationId"), "conversationId",
                   Conversation.__table__.c.external_id)
    seeker = record["initiatorWorkerId"]
    messages = record["messages"]
    if not isinstance(messages, list) or not messages:
        raise ValueError("the conversation has no messages")
    turns = []
    for number, message in enumerate(messages, start=1):
        if not isinstance(message, dict) or "text" not in message or "senderWorkerId" not in message:
            raise ValueError(f"message {number} lacks text or senderWorkerId")
        if not isinstance(message["text"], str):
            raise ValueError(f"message {number}: text is {'null' if message['text'] is None else 'not a string'}")
        text = storable(message["text"], f"message {number} text")
        keys = tuple(storable(k, f"message {number} movie id", Movie.__table__.c.external_id)
                     for k in dict.fromkeys(MENTION_RE.findall(text)))
        role = "seeker" if message["senderWorkerId"] == seeker else "recommender"
        turns.append(ParsedTurn(role, text, keys))
    answers = (*_answers(record, "initiatorQuestions", "initiator"),
               *_answers(record, "respondentQuestions", "respondent"))
    mentioned = record.get("movieMentions") or {}
    if not isinstance(mentioned, dict):
        raise ValueError("movieMentions must be an object")
    titles = {str(k): text_field(v, f"movieMentions {k!r}", column=Movie.__table__.c.title, multiline=True)
              for k, v in mentioned.items() if v is not None}  # null: no title given; anything else must be one
    return ParsedConversation(key, split, source, tuple(turns), answers, titles)


def known_mentions(conversation: ParsedConversation, corpus: ParsedCorpus) -> ParsedConversation:
    """Mentions of movies we cannot name are dropped from the conversation (the text keeps them) and counted: with a
    movie list, ids it lacks; without one, ids that neither the conversation's movieMentions nor an earlier file
    gives a title (no movie is ever invented with a placeholder title)."""
    def known(key: str) -> bool:
        return key in corpus.movies or (not corpus.has_catalog and bool(conversation.movie_titles.get(key)))

    turns = []
    for turn in conversation.turns:
        keys = tuple(k for k in turn.movie_keys if known(k))
        corpus.unknown_mentions_skipped += len(turn.movie_keys) - len(keys)
        turns.append(ParsedTurn(turn.role, turn.text, keys))
    answers = tuple(a for a in conversation.answers if known(a.movie_key))
    return ParsedConversation(conversation.key, conversation.split, conversation.source_file, tuple(turns), answers,
                              conversation.movie_titles)


def parse_conversations(path: Path, corpus: ParsedCorpus, split: str | None = None) -> None:
    file_split = split or infer_split(path.name)
    before = len(corpus.conversations)
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        try:
            conversation = known_mentions(parse_conversation_line(line, file_split, path.name), corpus)
            for key in sorted({k for turn in conversation.turns for k in turn.movie_keys} | {
                a.movie_key for a in conversation.answers
            }):
                corpus.add_movie_if_missing(key, conversation.movie_titles.get(key) or "")
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise IngestError(path, number, str(exc)) from exc
        corpus.conversations.append(conversation)
    if len(corpus.conversations) == before:
        raise IngestError(path, None, "no conversations in this file")


def attach_metadata(path: Path, corpus: ParsedCorpus) -> None:
    """id2info.json: movieId -> {genre, plot, director, star, ...}."""
    info = read_json_file(path)
    if not isinstance(info, dict):
        raise IngestError(path, None, "expected a JSON object of movieId -> metadata")
    for key, movie in list(corpus.movies.items()):
        if key in info:
            if not isinstance(info[key], dict):
                raise IngestError(path, None, f"entry {key!r} is not an object")
            try:
                meta = storable_tree({k: v for k, v in info[key].items() if k != "name"}, f"entry {key!r}")
            except ValueError as exc:
                raise IngestError(path, line_of(path, f'"{key}"'), str(exc)) from exc
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
