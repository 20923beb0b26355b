"""Long-tail segmentation: head (>= head_min mentions), body, tail (<= tail_max mentions)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.errors import NotFound
from db.models import Conversation, Dataset, Mention, Movie, Utterance
from db.settings import get_settings

Tier = Literal["head", "body", "tail"]
CountSource = Literal["corpus", "catalog"]
TIERS: tuple[Tier, ...] = ("head", "body", "tail")


@dataclass(frozen=True)
class TierThresholds:
    head_min: int = 6
    tail_max: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.tail_max < self.head_min:
            raise ValueError(f"need 1 <= tail_max < head_min, got tail_max={self.tail_max}, head_min={self.head_min}")


@dataclass(frozen=True)
class TierShare:
    tier: Tier
    titles: int
    mentions: int
    title_share: float
    mention_share: float


@dataclass(frozen=True)
class LongTailSummary:
    dataset: str
    source: CountSource
    thresholds: TierThresholds
    total_titles: int
    total_mentions: int
    tiers: tuple[TierShare, ...]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def tier_of(count: int, thresholds: TierThresholds) -> Tier:
    if count >= thresholds.head_min:
        return "head"
    if count <= thresholds.tail_max:
        return "tail"
    return "body"


def assign_tiers(counts: dict[int, int], thresholds: TierThresholds) -> dict[int, Tier]:
    """Movies with zero mentions get no tier."""
    return {movie: tier_of(n, thresholds) for movie, n in counts.items() if n > 0}


def get_dataset_or_raise(session: Session, name: str) -> Dataset:
    dataset = session.scalar(select(Dataset).where(Dataset.name == name))
    if dataset is None:
        raise NotFound(f"dataset {name!r} is not ingested; run `lumicrs ingest {name} PATH` first")
    return dataset


def movie_mention_counts(
    session: Session, dataset: str, source: CountSource = "corpus", origin: str = "original",
    splits: Sequence[str] | None = None,
) -> dict[int, int]:
    """Movie id -> number of mentions: utterance mentions in the ingested corpus (optionally only in `splits`),
    or the catalog's count."""
    ds = get_dataset_or_raise(session, dataset)
    if source == "catalog":
        rows = session.execute(select(Movie.id, Movie.catalog_mentions)
                               .where(Movie.dataset_id == ds.id, Movie.catalog_mentions.is_not(None)))
        return {movie: int(n) for movie, n in rows if n is not None}
    stmt = (
        select(Mention.movie_id, func.count())
        .join(Utterance, Utterance.id == Mention.utterance_id)
        .join(Conversation, Conversation.id == Utterance.conversation_id)
        .where(Conversation.dataset_id == ds.id, Conversation.origin == origin)
        .group_by(Mention.movie_id)
    )
    if splits:
        stmt = stmt.where(Conversation.split.in_(list(splits)))
    return {movie: int(n) for movie, n in session.execute(stmt)}


def summarise_tiers(dataset: str, source: CountSource, counts: dict[int, int],
                    thresholds: TierThresholds) -> LongTailSummary:
    tiers = assign_tiers(counts, thresholds)
    total_titles = len(tiers)
    total_mentions = sum(counts[m] for m in tiers)
    shares = []
    for tier in TIERS:
        movies = [m for m, t in tiers.items() if t == tier]
        mentions = sum(counts[m] for m in movies)
        shares.append(TierShare(tier, len(movies), mentions,
                                len(movies) / total_titles if total_titles else 0.0,
                                mentions / total_mentions if total_mentions else 0.0))
    return LongTailSummary(dataset, source, thresholds, total_titles, total_mentions, tuple(shares))


def configured_thresholds() -> TierThresholds:
    """The one place tier thresholds come from: LUMICRS_HEAD_MIN / LUMICRS_TAIL_MAX (default 6 / 1)."""
    settings = get_settings()
    return TierThresholds(settings.head_min_mentions, settings.tail_max_mentions)


def longtail_summary(session: Session, dataset: str, source: CountSource = "corpus",
                     thresholds: TierThresholds | None = None) -> LongTailSummary:
    thresholds = thresholds or configured_thresholds()
    return summarise_tiers(dataset, source, movie_mention_counts(session, dataset, source), thresholds)


def movie_tiers(session: Session, dataset: str, source: CountSource = "corpus",
                thresholds: TierThresholds | None = None, splits: Sequence[str] | None = None) -> dict[int, Tier]:
    """Tiers by mention counts; `splits` restricts the count (training decisions use the train split only)."""
    counts = movie_mention_counts(session, dataset, source, splits=splits)
    return assign_tiers(counts, thresholds or configured_thresholds())


TRAIN_SPLITS: tuple[str, ...] = ("train",)


def train_tiers(session: Session, dataset: str, splits: Sequence[str] = TRAIN_SPLITS) -> dict[int, Tier]:
    """Tiers counted on the training split(s) only: what every training or augmentation decision uses."""
    return movie_tiers(session, dataset, splits=splits)
