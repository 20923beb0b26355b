"""Plain records produced by the corpus parsers and consumed by the writer."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from db.errors import IngestError

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

    def add_movie_if_missing(self, key: str, raw_title: str) -> None:
        if key not in self.movies:
            title, year = split_title_year(raw_title)
            self.movies[key] = ParsedMovie(key=key, title=title, year=year)


def infer_split(filename: str) -> str:
    name = filename.lower()
    for split in ("test", "valid", "dev", "train"):
        if split in name:
            return split
    return "train"


def read_json_file(path: Path) -> Any:
    """Whole-file JSON; a syntax error names the file and line."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise IngestError(path, exc.lineno, exc.msg) from exc
