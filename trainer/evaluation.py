"""Evaluation under the two published protocols, with conversation-bootstrap 95% intervals.

standard (CRSLab / UniCRS / DCRS): one row per (recommender turn, mentioned movie); every catalog movie is ranked;
    movies already mentioned in the context stay as labels and stay in the ranking.
novel ("Beyond Single Labels"): rows whose target was already mentioned in the context are dropped, and context
    movies are removed from the ranking.

Ties are broken at random with a fixed seed (the items are shuffled once before top-k). Every mean metric gets
a 95% percentile interval from `n_boot` bootstrap resamples of conversations (rows of one conversation stay
together). A metric over an empty subset is undefined: None, never 0.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from trainer.metrics import coverage_at_k, ild_at_k, per_row_scores, pwp_at_k, rarity_weighted_recall_at_k

Report = dict[str, float | None]


@dataclass(frozen=True)
class EvalRows:
    """What a ranking needs besides the model: targets, context items and conversation ids per row."""

    targets: NDArray[np.int64]
    contexts: list[tuple[int, ...]]
    conversations: NDArray[np.int64]

    def novel(self) -> NDArray[np.bool_]:
        """Rows whose target was not mentioned earlier in the dialogue."""
        return np.array([t not in c for t, c in zip(self.targets.tolist(), self.contexts, strict=True)], dtype=bool)


def topk_random_ties(scores: Tensor, k: int, permutation: Tensor) -> Tensor:
    """Top-k item indices where equal scores are ordered by a fixed random permutation of the items."""
    order = scores[:, permutation].topk(min(k, scores.shape[1]), dim=-1).indices
    return permutation[order]


def exclude_items(scores: Tensor, contexts: Sequence[tuple[int, ...]]) -> Tensor:
    """A copy of the scores with each row's context items at -inf (they cannot be recommended)."""
    scores = scores.clone()
    rows = [r for r, items in enumerate(contexts) for _ in items]
    cols = [i for items in contexts for i in items]
    if rows:
        scores[rows, cols] = -torch.inf
    return scores


def bootstrap_weights(conversations: NDArray[np.int64], n_boot: int, seed: int) -> NDArray[np.float64]:
    """[n_boot, rows]: how often each row's conversation was drawn in each resample."""
    ids, inverse = np.unique(conversations, return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(ids), size=(n_boot, len(ids)))
    counts = np.stack([np.bincount(d, minlength=len(ids)) for d in draws]).astype(np.float64)
    return counts[:, inverse]


def mean_with_interval(values: NDArray[np.float64], mask: NDArray[np.bool_],
                       weights: NDArray[np.float64]) -> tuple[float | None, float | None, float | None]:
    """Point mean over the masked rows and the 2.5/97.5 percentiles of its bootstrap distribution."""
    if not mask.any():
        return None, None, None
    point = float(values[mask].mean())
    w = weights[:, mask]
    denominators = w.sum(axis=1)
    keep = denominators > 0
    boot = (w[keep] @ values[mask]) / denominators[keep]
    lo, hi = np.percentile(boot, [2.5, 97.5]) if len(boot) else (np.nan, np.nan)
    return point, float(lo), float(hi)


def protocol_report(ranked: NDArray[np.int64], rows: EvalRows, keep: NDArray[np.bool_], subsets: dict[str, NDArray[np.bool_]],
                    popularity: NDArray[np.float64], item_embeddings: NDArray[np.float64], ks: Sequence[int],
                    n_boot: int, seed: int) -> Report:
    """Metrics over the kept rows; `subsets` are item masks (tiers), reported as <name>_recall@k with row counts."""
    ranked, targets, conversations = ranked[keep], rows.targets[keep], rows.conversations[keep]
    report: Report = {"rows": float(len(targets))}
    weights = bootstrap_weights(conversations, n_boot, seed) if len(targets) else np.zeros((n_boot, 0))
    everything = np.ones(len(targets), dtype=bool)
    for name, mask in subsets.items():
        report[f"rows_{name}"] = float(mask[targets].sum()) if len(targets) else 0.0
    for k in ks:
        values = per_row_scores(ranked, targets, k) if len(targets) else {m: np.zeros(0) for m in ("recall", "ndcg", "mrr")}
        for metric, vals in values.items():
            _put(report, f"{metric}@{k}", mean_with_interval(vals, everything, weights))
        for name, mask in subsets.items():
            rows_in = mask[targets] if len(targets) else everything
            _put(report, f"{name}_recall@{k}", mean_with_interval(values["recall"], rows_in, weights))
        report[f"coverage@{k}"] = coverage_at_k(ranked, len(popularity), k) if len(targets) else None
        report[f"pwp@{k}"] = pwp_at_k(ranked, targets, popularity, k) if len(targets) else None
        report[f"rw_recall@{k}"] = rarity_weighted_recall_at_k(ranked, targets, popularity, k) if len(targets) else None
        if k > 1:
            report[f"ild@{k}"] = ild_at_k(ranked, item_embeddings, k) if len(targets) else None
    return report


def _put(report: Report, name: str, estimate: tuple[float | None, float | None, float | None]) -> None:
    report[name], report[f"{name}_lo"], report[f"{name}_hi"] = estimate
