"""The item knowledge graph staged beside a corpus (`metadata/<dataset>/cfcrs_kg/`, the CFCRS files): movie ->
[genre|star|director|writer] -> entity. Movies are matched to the dataset's movie list by title; facts are written
idempotently; a malformed file is refused naming the file and the line of the offending key, nothing written."""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from db.errors import IngestError
from db.fields import storable, text_field
from db.ingest.parsed import line_of, read_json_file
from db.ingest.writer import chunks
from db.models import KGFact, Movie

KG_FILES = ("entity2id.json", "entity2type.json", "item_ids.json", "kg.json", "relation2id.json")


@dataclass(frozen=True)
class ParsedKG:
    facts: tuple[tuple[str, str, str, str], ...]  # (movie title, relation, entity, entity type)
    items: int


@dataclass(frozen=True)
class KGSummary:
    kg_facts_added: int
    kg_items_matched: int
    kg_items_unmatched: int


def default_kg_dir(dataset: str, corpus_path: Path) -> Path | None:
    base = corpus_path if corpus_path.is_dir() else corpus_path.parent
    candidate = base.parent / "metadata" / dataset / "cfcrs_kg"
    return candidate if (candidate / "kg.json").exists() else None


def _mapping(path: Path) -> Mapping[str, Any]:
    data = read_json_file(path)
    if not isinstance(data, dict):
        raise IngestError(path, 1, f"expected a JSON object, got {type(data).__name__}")
    return data


def parse_kg(directory: Path) -> ParsedKG:
    missing = [name for name in KG_FILES if not (directory / name).exists()]
    if missing:
        raise IngestError(directory, None, f"knowledge graph incomplete: missing {', '.join(missing)}")
    entity2id, entity2type = _mapping(directory / "entity2id.json"), _mapping(directory / "entity2type.json")
    relations = {_int(v, directory / "relation2id.json", k): _relation(directory / "relation2id.json", k)
                 for k, v in _mapping(directory / "relation2id.json").items()}
    names: dict[int, str] = {}
    for name, number in entity2id.items():
        names[_int(number, directory / "entity2id.json", name)] = storable(str(name), "entity name", KGFact.__table__.c.entity)
    items = read_json_file(directory / "item_ids.json")
    if not isinstance(items, list):
        raise IngestError(directory / "item_ids.json", 1, "expected a JSON list of entity ids")
    kg_path = directory / "kg.json"
    facts: list[tuple[str, str, str, str]] = []
    for key, edges in _mapping(kg_path).items():
        movie = names.get(_int(key, kg_path, key))
        if movie is None or not isinstance(edges, list):
            raise IngestError(kg_path, line_of(kg_path, f'"{key}"'), f"item {key}: unknown entity id or edges not a list")
        for edge in edges:
            if not (isinstance(edge, list) and len(edge) == 2):
                raise IngestError(kg_path, line_of(kg_path, f'"{key}"'), f"item {key}: an edge is not [relation, entity]")
            relation, tail = relations.get(edge[0]), names.get(edge[1]) if isinstance(edge[1], int) else None
            if relation is None or tail is None:
                raise IngestError(kg_path, line_of(kg_path, f'"{key}"'),
                                  f"item {key}: edge {edge} names an unknown relation or entity")
            kind = str(entity2type.get(tail, "entity"))
            facts.append((movie, relation, tail, storable(kind, "entity type", KGFact.__table__.c.entity_type)))
    return ParsedKG(tuple(facts), len(items))


def _relation(path: Path, key: Any) -> str:
    """A relation's name, as storable as any other name (db.fields), or the file and line it came from."""
    try:
        return text_field(key, f"relation {str(key)[:40]!r}", column=KGFact.__table__.c.relation)
    except ValueError as exc:
        raise IngestError(path, line_of(path, f'"{str(key)[:20]}'), str(exc)) from exc


def _int(value: Any, path: Path, key: Any) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise IngestError(path, line_of(path, f'"{key}"'), f"{key!r}: expected an integer id, got {value!r}") from None


def fold_title(title: str) -> str:
    """Titles compared without case, punctuation or repeated spaces ('Why Him? (2016)' == 'Why Him  (2016)')."""
    return " ".join(re.sub(r"[^\w\s()]", " ", title.lower()).split())


def write_kg(session: Session, dataset_id: int, kg: ParsedKG) -> KGSummary:
    movies: dict[str, int] = {}
    for movie_id, title in session.execute(select(Movie.id, Movie.title).where(Movie.dataset_id == dataset_id)):
        movies.setdefault(fold_title(title), movie_id)
    existing: set[tuple[int, str, str]] = {
        (movie, relation, entity) for movie, relation, entity in session.execute(
            select(KGFact.movie_id, KGFact.relation, KGFact.entity)
            .join(Movie, Movie.id == KGFact.movie_id).where(Movie.dataset_id == dataset_id))}
    rows: list[dict[str, Any]] = []
    matched: set[int] = set()
    unmatched: set[str] = set()
    for title, relation, entity, kind in kg.facts:
        found = movies.get(fold_title(title))
        if found is None:
            unmatched.add(title)
            continue
        movie_id = found
        matched.add(movie_id)
        if (movie_id, relation, entity) not in existing:
            existing.add((movie_id, relation, entity))
            rows.append({"movie_id": movie_id, "relation": relation, "entity": entity, "entity_type": kind})
    for batch in chunks(rows):
        session.execute(insert(KGFact), list(batch))
    return KGSummary(len(rows), len(matched), len(unmatched))
