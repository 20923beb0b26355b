"""A tail-aware second stage: slots in the top-k reserved for the movies training saw rarely.

The first stage is the trained model's ranking of every catalog movie. The second keeps its first k - s movies, gives
the next s places to the model's best-scored *rare* movies (train count <= max_count) not already there, then lets
the first stage's list go on (without repeats). The model's own scores rank the rare movies: its item vectors carry
their text and KG neighbours, so a rare movie can score high for the right context even where the head's popularity
keeps it out of the top k.

`s` and `max_count` are chosen on validation only (`choose_stage`, which is never given a test row): the option with
the highest validation recall@k on the rows whose movie training saw at most once (a tail that does not depend on the
test split, unlike the paper's corpus tiers) whose validation R@k stays within `max_recall_drop` of the first stage's
alone; ties go to fewer slots, then to the smaller max_count. s = 0 (no second stage) is always an option.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class TailStage:
    slots: int = 0       # s: places of the top-k given to rare movies (0: the first stage alone)
    max_count: int = 0   # a movie is rare when training named it at most this often (0: never)
    k: int = 10          # the list the slots are reserved in

    def rare_items(self, train_counts: NDArray[np.int64]) -> NDArray[np.bool_]:
        return np.asarray(train_counts) <= self.max_count

    def as_metrics(self) -> dict[str, float]:
        return {"tail_stage_slots": float(self.slots), "tail_stage_max_count": float(self.max_count),
                "tail_stage_k": float(self.k)}

    @classmethod
    def from_metrics(cls, report: Mapping[str, float | None]) -> TailStage:
        """The stage a run chose (stored with its validation metrics); a run without one ranks as the first stage."""
        if report.get("tail_stage_slots") is None:
            return cls()
        return cls(int(report["tail_stage_slots"] or 0), int(report.get("tail_stage_max_count") or 0),
                   int(report.get("tail_stage_k") or 10))


def merge_reserved(first: NDArray[np.int64], rare: NDArray[np.int64], stage: TailStage) -> NDArray[np.int64]:
    """[rows, K] first-stage lists + [rows, >= s] rare lists -> [rows, K]: first k - s, then s rare ones not already
    there, then the rest of the first list."""
    if stage.slots <= 0:
        return first
    keep = max(stage.k - stage.slots, 0)
    width = first.shape[1]
    out = np.empty_like(first)
    for r in range(first.shape[0]):
        merged = list(first[r, :keep])
        taken = set(merged)
        for item in rare[r]:
            if len(merged) - keep >= stage.slots:
                break
            if item not in taken:
                merged.append(item)
                taken.add(item)
        merged.extend(i for i in first[r, keep:] if i not in taken)
        out[r] = merged[:width]
    return out


def recall_at(ranked: NDArray[np.int64], targets: NDArray[np.int64], k: int) -> NDArray[np.float64]:
    hits: NDArray[np.float64] = (ranked[:, :k] == targets[:, None]).any(axis=1).astype(np.float64)
    return hits


@dataclass(frozen=True)
class Option:
    stage: TailStage
    recall: float
    tail_recall: float | None


def choose_stage(rank_valid: Callable[[TailStage], NDArray[np.int64]], valid_targets: NDArray[np.int64],
                 tail_items: NDArray[np.bool_], slots: Sequence[int], max_counts: Sequence[int],
                 max_recall_drop: float, k: int = 10) -> tuple[TailStage, list[Option]]:
    """Every option's validation R@k and Tail-R@k, and the one the rule picks (module docstring)."""
    tail_rows = tail_items[valid_targets]
    options: list[Option] = []
    for stage in [TailStage(0, 0, k)] + [TailStage(s, c, k) for s in slots if s > 0 for c in max_counts]:
        hits = recall_at(rank_valid(stage), valid_targets, k)
        options.append(Option(stage, float(hits.mean()) if len(hits) else 0.0,
                              float(hits[tail_rows].mean()) if tail_rows.any() else None))
    floor = options[0].recall - max_recall_drop
    allowed = [o for o in options if o.recall >= floor - 1e-12]
    best = max(allowed, key=lambda o: (o.tail_recall or 0.0, -o.stage.slots, -o.stage.max_count))
    return best.stage, options
