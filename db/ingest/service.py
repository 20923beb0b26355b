"""Entry points for `lumicrs ingest`: parse, then write in the caller's transaction."""
from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

from sqlalchemy.orm import Session

from db.fields import storable
from db.ingest.inspired import parse_inspired
from db.ingest.kg import default_kg_dir, parse_kg, write_kg
from db.ingest.redial import parse_redial
from db.ingest.writer import IngestSummary, get_or_create_dataset, write_corpus
from db.models import Conversation

PARSERS = {"redial": parse_redial, "inspired": parse_inspired}
DEFAULT_METADATA = {
    "redial": Path("metadata/redial/id2info.json"),
    "inspired": Path("metadata/inspired/movie_kg_wikidata.json"),
}


def default_metadata(dataset: str, path: Path) -> Path | None:
    """Look for the staged metadata file beside the corpus (`<data>/metadata/...`)."""
    base = path if path.is_dir() else path.parent
    candidate = base.parent / DEFAULT_METADATA[dataset]
    return candidate if candidate.exists() else None


def ingest_corpus(
    session: Session, dataset: str, path: Path, metadata: Path | None = None, split: str | None = None
) -> IngestSummary:
    if dataset not in PARSERS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(PARSERS)}")
    if split is not None:
        storable(split, "--split", Conversation.__table__.c.split)
    corpus = PARSERS[dataset](path, metadata or default_metadata(dataset, path), split)
    kg_dir = default_kg_dir(dataset, path)
    kg = parse_kg(kg_dir) if kg_dir is not None else None  # parsed before anything is written
    summary = write_corpus(session, corpus)
    if kg is None:
        return summary
    return replace(summary, **asdict(write_kg(session, get_or_create_dataset(session, dataset).id, kg)))
