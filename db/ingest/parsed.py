"""Plain records produced by the corpus parsers and consumed by the writer."""
from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from db.errors import IngestError
from db.fields import MAX_LINE_BYTES, storable, text_field

YEAR_RE = re.compile(r"\((\d{4})\)\s*$")


def split_title_year(raw: str) -> tuple[str, int | None]:
    """'Police Academy  (1984)' -> ('Police Academy (1984)', 1984); whitespace folded."""
    title = " ".join(raw.split())
    match = YEAR_RE.search(title)
    return title, int(match.group(1)) if match else None


@dataclass(frozen=True)
class ParsedMovie:
    key: str
    title: str
    year: int | None = None
    catalog_mentions: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedTurn:
    role: str
    text: str
    movie_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedAnswer:
    movie_key: str
    answered_by: str
    suggested: int | None
    seen: int | None
    liked: int | None


@dataclass(frozen=True)
class ParsedConversation:
    key: str
    split: str
    source_file: str
    turns: tuple[ParsedTurn, ...]
    answers: tuple[ParsedAnswer, ...] = ()
    movie_titles: dict[str, str] = field(default_factory=dict)


@dataclass
class ParsedCorpus:
    dataset: str
    movies: dict[str, ParsedMovie] = field(default_factory=dict)
    conversations: list[ParsedConversation] = field(default_factory=list)
    has_catalog: bool = False  # a movie list was read: mentions of other ids are skipped and counted
    unknown_mentions_skipped: int = 0

    def add_movie_if_missing(self, key: str, raw_title: str) -> None:
        """A movie known only from a dialogue (or metadata); its id and title must be storable (ValueError)."""
        if key not in self.movies:
            from db.models import Movie

            storable(key, "movie id", Movie.__table__.c.external_id)
            title, year = split_title_year(text_field(raw_title, f"movie {key}'s title", column=Movie.__table__.c.title,
                                                      multiline=True))
            self.movies[key] = ParsedMovie(key=key, title=title, year=year)


def infer_split(filename: str) -> str:
    name = filename.lower()
    for split in ("test", "valid", "dev", "train"):
        if split in name:
            return split
    return "train"


def read_json_file(path: Path) -> Any:
    """Whole-file JSON; a syntax error or a non-UTF-8 byte names the file and line."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise IngestError(path, exc.lineno, exc.msg) from exc


def read_text(path: Path) -> str:
    """The file as UTF-8 text; a bad byte is an IngestError naming its line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(path, data[:exc.start].count(b"\n") + 1, f"not UTF-8 (byte 0x{data[exc.start]:02x})") from exc


def line_of(path: Path, needle: str) -> int | None:
    """The 1-based line where `needle` first occurs in a text file (None: not there), to name a JSON entry's line."""
    text = read_text(path)
    at = text.find(needle)
    return text.count("\n", 0, at) + 1 if at >= 0 else None


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a plain or gzip file, decoded line by line; a broken archive names the file."""
    number = 0
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")) as handle:
            for number, raw in enumerate(handle, start=1):
                if len(raw) > MAX_LINE_BYTES:
                    raise IngestError(path, number, f"the line is {len(raw):,} bytes; at most {MAX_LINE_BYTES:,} are read")
                try:
                    yield number, raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise IngestError(path, number, f"not UTF-8 (byte 0x{raw[exc.start]:02x})") from exc
    except gzip.BadGzipFile as exc:
        raise IngestError(path, None, "not a gzip archive") from exc
    except EOFError as exc:
        raise IngestError(path, None, f"truncated gzip archive (it ends inside line {number + 1})") from exc
    except zlib.error as exc:
        raise IngestError(path, None, f"corrupt gzip archive after line {number} ({exc})") from exc


def storable_tree(value: Any, field: str) -> Any:
    """Every string inside a JSON value (metadata) free of NUL characters; the value itself is returned."""
    if isinstance(value, str):
        storable(value, field)
    elif isinstance(value, dict):
        for key, item in value.items():
            storable_tree(str(key), field)
            storable_tree(item, f"{field}.{key}")
    elif isinstance(value, list):
        for item in value:
            storable_tree(item, field)
    return value


def identifier(value: Any, field: str) -> str:
    """An id must be a string or an integer (not an object, a list, a boolean or null)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"{field} must be a string or an integer, got {type(value).__name__}")
    return str(value)
