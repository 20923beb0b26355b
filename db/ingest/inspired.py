"""INSPIRED parser: the official dialog tsv files and the UniCRS-format jsonl."""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from db.errors import IngestError
from db.fields import storable
from db.ingest.parsed import (
    ParsedConversation,
    ParsedCorpus,
    ParsedMovie,
    ParsedTurn,
    infer_split,
    line_of,
    numbered_lines,
    read_json_file,
    read_text,
    storable_tree,
)
from db.models import Conversation, Movie

TSV_COLUMNS = ("dialog_id", "speaker", "text", "movies")
ROLES = {"SEEKER": "seeker", "RECOMMENDER": "recommender"}

csv.field_size_limit(sys.maxsize)


def _clean(text: str) -> str:
    return " ".join(text.replace("QUOTATION_MARK", '"').split())


def find_inspired_files(path: Path) -> list[Path]:
    """Per split prefer the raw tsv; fall back to the UniCRS jsonl."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or directory")
    chosen: dict[str, Path] = {}
    for file in sorted(path.iterdir()):
        if file.suffix == ".tsv" or file.name.endswith(".jsonl"):
            split = infer_split(file.name)
            if split not in chosen or file.suffix == ".tsv":
                chosen[split] = file
    if not chosen:
        raise IngestError(path, None, "no INSPIRED files here (*.tsv or *.jsonl)")
    return [chosen[s] for s in sorted(chosen)]


def parse_tsv(path: Path, corpus: ParsedCorpus, split: str) -> None:
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""), delimiter="\t")
    missing = [c for c in TSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise IngestError(path, 1, f"missing column(s) {', '.join(missing)}")
    dialogs: dict[str, list[ParsedTurn]] = {}
    for row in reader:
        try:
            if None in row or row["speaker"] not in ROLES:
                raise ValueError(f"malformed row (speaker={row.get('speaker')!r})")
            dialog = storable(row["dialog_id"] or "", "dialog_id", Conversation.__table__.c.external_id)
            if not dialog:
                raise ValueError("dialog_id is empty")
            text = storable(_clean(row["text"] or ""), "text")
            titles = tuple(dict.fromkeys(storable(t.strip(), "movie title", Movie.__table__.c.title)
                                         for t in (row["movies"] or "").split(";") if t.strip()))
            for title in titles:
                corpus.add_movie_if_missing(title, title)
        except ValueError as exc:
            raise IngestError(path, reader.line_num, str(exc)) from exc
        dialogs.setdefault(dialog, []).append(ParsedTurn(ROLES[row["speaker"]], text, titles))
    if not dialogs:
        raise IngestError(path, None, "no dialogues in this file")
    for dialog_id, turns in dialogs.items():
        corpus.conversations.append(ParsedConversation(dialog_id, split, path.name, tuple(turns)))


def _unicrs_turn(turn: Any) -> ParsedTurn:
    if not isinstance(turn, dict) or turn.get("role") not in ROLES or not isinstance(turn.get("text"), str):
        raise ValueError("each turn needs role SEEKER|RECOMMENDER and a text string")
    storable(turn["text"], "text")
    titles = tuple(dict.fromkeys(str(t).strip() for t in turn.get("movie") or [] if str(t).strip()))
    return ParsedTurn(ROLES[turn["role"]], _clean(str(turn["text"])), titles)


def parse_unicrs(path: Path, corpus: ParsedCorpus, split: str) -> None:
    before = len(corpus.conversations)
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, list) or not record:
                raise ValueError("expected a non-empty JSON list of turns")
            turns = tuple(_unicrs_turn(turn) for turn in record)
            for title in sorted({k for turn in turns for k in turn.movie_keys}):
                corpus.add_movie_if_missing(title, title)
        except ValueError as exc:
            raise IngestError(path, number, str(exc)) from exc
        corpus.conversations.append(ParsedConversation(f"{split}-{number}", split, path.name, turns))
    if len(corpus.conversations) == before:
        raise IngestError(path, None, "no dialogues in this file")


def attach_metadata(path: Path, corpus: ParsedCorpus) -> None:
    """movie_kg_wikidata.json: 'Title (Year)' -> {genres, casts, directors, description, ...}. Titles the metadata
    knows but no dialogue mentions join the movie list too: INSPIRED's catalog is every movie the data knows."""
    info = read_json_file(path)
    if not isinstance(info, dict):
        raise IngestError(path, None, "expected a JSON object of title -> metadata")
    bad = next((k for k, v in info.items() if not isinstance(v, dict)), None)
    if bad is not None:
        raise IngestError(path, None, f"entry {bad!r} is not an object")
    for key in sorted(info):
        try:
            corpus.add_movie_if_missing(key, key)
            storable_tree(info[key], f"entry {key!r}")
        except ValueError as exc:
            raise IngestError(path, line_of(path, json.dumps(key)[:-1]), str(exc)) from exc
    for key, movie in list(corpus.movies.items()):
        if key in info and isinstance(info[key], dict):
            corpus.movies[key] = ParsedMovie(movie.key, movie.title, movie.year, None, dict(info[key]))


def parse_inspired(path: Path, metadata: Path | None = None, split: str | None = None) -> ParsedCorpus:
    corpus = ParsedCorpus(dataset="inspired")
    for file in find_inspired_files(path):
        file_split = split or infer_split(file.name)
        if file.suffix == ".tsv":
            parse_tsv(file, corpus, file_split)
        else:
            parse_unicrs(file, corpus, file_split)
    if metadata is not None:
        attach_metadata(metadata, corpus)
    return corpus
