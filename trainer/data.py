"""Recommendation samples: one row per (recommender turn, mentioned movie).

Context = the previous `max_context_turns` turns (role-tagged); context items = movies mentioned before;
target = a movie the recommender mentions in this turn. Original dialogues come from the DB, approved
augmented ones from an exported JSONL snapshot.
"""
from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.export_files import verify_export
from db.models import Dataset, Movie, Prototype, RelevanceLabel, SupportExample
from db.queries.corpus import list_dialogues, list_movies
from db.queries.longtail import TIERS, Tier, movie_tiers
from db.types import Dialogue, ExportRecord, MovieInfo, merge_turns
from trainer.kg import ItemGraph, load_item_graph


@dataclass(frozen=True)
class RecSample:
    context: str
    context_items: tuple[int, ...]
    target: int
    conversation_id: int
    origin: str = "original"
    turn_position: int = -1


@dataclass
class ItemCatalog:
    """Every movie of the dataset's movie list (db.queries.corpus.list_movies), whatever the splits mention.

    `tiers`: counted on the training split(s), what training decisions use; None = never mentioned in train.
    `corpus_tiers`: the paper's definition (mentions in the whole corpus, test included), for reporting only.
    """

    movie_ids: list[int]
    titles: list[str]
    texts: list[str]
    tiers: list[Tier | None]
    corpus_tiers: list[Tier | None] = field(default_factory=list)
    index: dict[int, int] = field(init=False)

    def __post_init__(self) -> None:
        self.index = {movie: i for i, movie in enumerate(self.movie_ids)}
        if not self.corpus_tiers:
            self.corpus_tiers = list(self.tiers)

    def __len__(self) -> int:
        return len(self.movie_ids)

    def tier_masks(self) -> dict[str, np.ndarray]:
        """Item subsets reported as <name>_recall@k: head/body/tail by the paper's corpus counts, train_<tier> by
        train counts, and `unseen` (never mentioned in train: pure zero-shot)."""
        masks = {tier: np.array([t == tier for t in self.corpus_tiers], dtype=bool) for tier in TIERS}
        masks.update({f"train_{tier}": np.array([t == tier for t in self.tiers], dtype=bool) for tier in TIERS})
        masks["unseen"] = np.array([t is None for t in self.tiers], dtype=bool)
        return masks


SoftLabels = dict[int, float]  # item index -> weight (sums to 1)


@dataclass
class RecData:
    catalog: ItemCatalog
    train: list[RecSample]
    valid: list[RecSample]
    test: list[RecSample]
    train_soft: list[SoftLabels | None] = field(default_factory=list)
    graph: ItemGraph | None = None  # the item knowledge graph, when asked for

    def train_counts(self) -> np.ndarray:
        counts = np.zeros(len(self.catalog), dtype=np.int64)
        for sample in self.train:
            counts[sample.target] += 1
        return counts


def item_text(movie: MovieInfo) -> str:
    genres = ", ".join(movie.genres)
    return f"{movie.title}. {genres}. {movie.plot}".strip()


def build_catalog(movies: Sequence[MovieInfo], tiers: dict[int, Tier],
                  corpus_tiers: dict[int, Tier] | None = None) -> ItemCatalog:
    """Items = every movie given (the dataset's full list), tiers by train counts (+ corpus tiers to report)."""
    corpus = corpus_tiers if corpus_tiers is not None else tiers
    return ItemCatalog([m.id for m in movies], [m.title for m in movies], [item_text(m) for m in movies],
                       [tiers.get(m.id) for m in movies], [corpus.get(m.id) for m in movies])


def render_turn(role: str, text: str) -> str:
    return f"{'Seeker' if role == 'seeker' else 'Recommender'}: {text}"


def samples_from_dialogue(dialogue: Dialogue, catalog: ItemCatalog, max_turns: int,
                          seeker_targets: bool = False) -> list[RecSample]:
    """One sample per (recommender turn, movie it names) given the turns before it; with `seeker_targets` (training
    rows only, never evaluation) the movies a seeker names are targets too."""
    samples: list[RecSample] = []
    history: list[str] = []
    seen: list[int] = []
    for position, turn in enumerate(merge_turns(dialogue.turns)):
        items = [catalog.index[m] for m in turn.movie_ids if m in catalog.index]
        if (turn.role == "recommender" or seeker_targets) and items and history:
            context = "\n".join(reversed(history[-max_turns:]))  # newest first: truncation drops the oldest
            for target in dict.fromkeys(items):
                samples.append(RecSample(context, tuple(dict.fromkeys(seen)), target,
                                         dialogue.conversation_id or 0, dialogue.origin, position))
        history.append(render_turn(turn.role, turn.text))
        seen.extend(items)
    return samples


def read_export(path: Path) -> list[Dialogue]:
    """Approved augmented dialogues from an export JSONL (lines are ExportRecord), after checking its sha256."""
    verify_export(path)
    dialogues = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                record = ExportRecord.model_validate_json(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not an export record ({exc})") from exc
            dialogues.append(Dialogue(conversation_id=-record.candidate_id, external_id=f"cand-{record.candidate_id}",
                                      dataset=record.dataset, split="train", origin="augmented", turns=record.turns))
    return dialogues


def subsample(dialogues: list[Dialogue], fraction: float, seed: int) -> list[Dialogue]:
    """A seeded share of the conversations (the same ones for the same seed; smaller shares are subsets)."""
    if fraction >= 1.0:
        return dialogues
    order = list(range(len(dialogues)))
    random.Random(seed).shuffle(order)
    keep = set(order[: round(len(dialogues) * fraction)])
    return [d for i, d in enumerate(dialogues) if i in keep]


def split_valid(samples: list[RecSample], fraction: float, seed: int) -> tuple[list[RecSample], list[RecSample]]:
    """Hold out whole conversations (never a turn of a conversation seen in training)."""
    conversations = sorted({s.conversation_id for s in samples if s.origin == "original"})
    random.Random(seed).shuffle(conversations)
    held = set(conversations[: int(len(conversations) * fraction)])
    return [s for s in samples if s.conversation_id not in held], [s for s in samples if s.conversation_id in held]


def expand(dialogues: Iterable[Dialogue], catalog: ItemCatalog, max_turns: int,
           seeker_targets: bool = False) -> list[RecSample]:
    return [s for d in dialogues for s in samples_from_dialogue(d, catalog, max_turns, seeker_targets)]


def load_rec_data(session: Session, dataset: str, train_splits: Sequence[str], test_splits: Sequence[str],
                  *, valid_fraction: float = 0.1, valid_splits: Sequence[str] = (), exports: Sequence[Path] = (),
                  max_turns: int = 8, seed: int = 42, min_relevance: float | None = None,
                  relevance_scorer: str | None = None,
                  train_fraction: float = 1.0, with_kg: bool = False, augment_ratio: float | None = None,
                  support_set_repeat: int = 0, seeker_targets: bool = False) -> RecData:
    """Validation: the dataset's own `valid_splits` when given, else `valid_fraction` of train conversations.
    augment_ratio (rho): at most rho x the original training dialogues come from the exports, a seeded sample.
    support_set_repeat: the training samples of S_1's conversations (`support_set_conversations`) appear that many
    extra times (validation rows never). seeker_targets: training rows also predict the movies seekers name
    (validation and test rows stay recommender turns)."""
    catalog = build_catalog(list_movies(session, dataset), movie_tiers(session, dataset, splits=train_splits),
                            movie_tiers(session, dataset))
    originals = subsample(list_dialogues(session, dataset, train_splits), train_fraction, seed)
    train_all = expand(originals, catalog, max_turns)
    if valid_splits:
        train, valid = train_all, expand(list_dialogues(session, dataset, valid_splits), catalog, max_turns)
    else:
        train, valid = split_valid(train_all, valid_fraction, seed)
    if seeker_targets:  # the same training conversations, their seekers' movies as targets too
        held = set() if valid_splits else {s.conversation_id for s in valid}
        train = expand([d for d in originals if (d.conversation_id or 0) not in held], catalog, max_turns, True)
    if support_set_repeat:
        s1 = support_set_conversations(session, dataset)
        train.extend(s for s in list(train) if s.conversation_id in s1 for _ in range(support_set_repeat))
    augmented = [d for export in exports for d in read_export(export)]
    if augment_ratio is not None and len(augmented) > augment_ratio * len(originals):
        augmented = random.Random(seed).sample(augmented, int(augment_ratio * len(originals)))
    train.extend(expand(augmented, catalog, max_turns))
    test = expand(list_dialogues(session, dataset, test_splits), catalog, max_turns)
    data = RecData(catalog, train, valid, test, graph=load_item_graph(session, catalog.index) if with_kg else None)
    if min_relevance is not None:
        data.train_soft = soft_targets(train, load_relevance(session, catalog, min_relevance, relevance_scorer))
    return data


def support_set_conversations(session: Session, dataset: str) -> set[int]:
    """LumiCRS's S_1: every body/tail prototype's conversation and its top-K support set (`augment prototypes`)."""
    def of(column: Any) -> set[int]:
        return set(session.scalars(select(column).select_from(Prototype)
                                   .outerjoin(SupportExample, SupportExample.prototype_id == Prototype.id)
                                   .join(Movie, Movie.id == Prototype.movie_id)
                                   .join(Dataset, Dataset.id == Movie.dataset_id)
                                   .where(Dataset.name == dataset, Prototype.tier.in_(("body", "tail")),
                                          column.is_not(None))))

    return of(Prototype.conversation_id) | of(SupportExample.conversation_id)


def load_relevance(session: Session, catalog: ItemCatalog, min_relevance: float,
                   scorer: str | None = None) -> dict[tuple[int, int], dict[int, float]]:
    """(conversation, turn) -> {item index: relevance} for labels >= min_relevance (of one scorer, when named)."""
    query = (select(RelevanceLabel.conversation_id, RelevanceLabel.turn_position, RelevanceLabel.movie_id,
                    RelevanceLabel.score).where(RelevanceLabel.score >= min_relevance))
    rows = session.execute(query.where(RelevanceLabel.scorer == scorer) if scorer is not None else query)
    labels: dict[tuple[int, int], dict[int, float]] = {}
    for conv, position, movie, score in rows:
        if movie in catalog.index:
            labels.setdefault((conv, position), {})[catalog.index[movie]] = max(score, 0.0)
    return labels


def soft_targets(samples: Sequence[RecSample], relevance: dict[tuple[int, int], dict[int, float]]) -> list[SoftLabels | None]:
    """Multi-label soft target per sample: the gold item (score 4) plus the LLM-kept items, normalised."""
    out: list[SoftLabels | None] = []
    for sample in samples:
        extra = relevance.get((sample.conversation_id, sample.turn_position))
        if not extra:
            out.append(None)
            continue
        scores = {**extra, sample.target: 4.0}
        total = sum(scores.values())
        out.append({item: score / total for item, score in scores.items()})
    return out
