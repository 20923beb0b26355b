"""Composite dialogue similarity (LumiCRS Sec. 4.2.2, prototype selection), vectorised over row chunks.

`formula="paper"` (the default) is the paper's, as written, for a prototype p and a corpus sample x:
    Sim_sem = cos(v_p, v_x)
    Sim_emo = 1 / (1 + ||e_p - e_x||_1)                       inverse L1 distance of the emotion vectors
    Sim_mov = |M(p) & M(x)|                                   the number of shared movies (a count)
    R       = Sim_sem * Sim_emo * 1 / (1 + exp(-alpha * Sim_mov))   the interaction factor
    Final   = w_sem * Sim_sem + w_emo * Sim_emo + w_mov * Sim_mov + w_int * R,  weights summing to 1
The paper states neither the weights nor alpha ("stable values adopted from previous studies"): 0.4/0.2/0.2/0.2 and
alpha = 1 are ours.
`formula="jaccard"` is this project's earlier variant (not the paper's): 1 - L1/2 for emotion, the Jaccard overlap
of the movie sets for Sim_mov, and cos * Jaccard as the interaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import sparse

Formula = Literal["paper", "jaccard"]


@dataclass(frozen=True)
class SimilarityWeights:
    semantic: float = 0.4
    emotional: float = 0.2
    overlap: float = 0.2
    interaction: float = 0.2
    formula: Formula = "paper"
    alpha: float = 1.0  # the interaction's sigmoid slope (paper formula only)

    def __post_init__(self) -> None:
        total = self.semantic + self.emotional + self.overlap + self.interaction
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"similarity weights must sum to 1, got {total:.3f}")
        if self.formula not in ("paper", "jaccard"):
            raise ValueError(f"similarity formula must be 'paper' or 'jaccard', got {self.formula!r}")


def movie_matrix(movie_sets: list[set[int]]) -> sparse.csr_matrix:
    """Binary dialogue x movie matrix (columns are dense re-indexed movie ids)."""
    columns = {m: i for i, m in enumerate(sorted({m for s in movie_sets for m in s}))}
    rows = [r for r, s in enumerate(movie_sets) for _ in s]
    cols = [columns[m] for s in movie_sets for m in s]
    return sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(movie_sets), max(len(columns), 1)))


def composite_block(rows: slice, emb: np.ndarray, emo: np.ndarray, movies: sparse.csr_matrix,
                    sizes: np.ndarray, w: SimilarityWeights) -> np.ndarray:
    """Composite similarity of the dialogues in `rows` against all dialogues: [len(rows), n]."""
    cosine = emb[rows] @ emb.T
    l1 = np.abs(emo[rows][:, None, :] - emo[None, :, :]).sum(axis=-1)
    inter = np.asarray((movies[rows] @ movies.T).todense())
    if w.formula == "paper":
        emotion = 1.0 / (1.0 + l1)
        interaction = cosine * emotion / (1.0 + np.exp(-w.alpha * inter))
        return w.semantic * cosine + w.emotional * emotion + w.overlap * inter + w.interaction * interaction
    union = sizes[rows][:, None] + sizes[None, :] - inter
    jaccard = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return (w.semantic * cosine + w.emotional * (1.0 - l1 / 2.0) + w.overlap * jaccard
            + w.interaction * cosine * jaccard)


def top_k_neighbours(emb: np.ndarray, emo: np.ndarray, movie_sets: list[set[int]], w: SimilarityWeights,
                     k: int, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """For every dialogue, the k most similar other dialogues: (indices [n, k], scores [n, k])."""
    n = len(movie_sets)
    movies = movie_matrix(movie_sets)
    sizes = np.asarray(movies.sum(axis=1)).ravel().astype(np.float32)
    k = min(k, max(n - 1, 0))
    indices = np.zeros((n, k), dtype=np.int64)
    scores = np.zeros((n, k), dtype=np.float32)
    for start in range(0, n, chunk):
        block = slice(start, min(start + chunk, n))
        sim = composite_block(block, emb, emo, movies, sizes, w)
        sim[np.arange(sim.shape[0]), np.arange(block.start, block.stop)] = -np.inf  # never your own neighbour
        if k == 0:
            continue
        part = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        part_scores = np.take_along_axis(sim, part, axis=1)
        order = np.argsort(-part_scores, axis=1)
        indices[block] = np.take_along_axis(part, order, axis=1)
        scores[block] = np.take_along_axis(part_scores, order, axis=1)
    return indices, scores
