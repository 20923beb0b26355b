"""Composite dialogue similarity (LumiCRS prototype selection), vectorised over row chunks.

    S(i, j) = w_sem * cos(e_i, e_j)
            + w_emo * (1 - ||emo_i - emo_j||_1 / 2)          emotion distributions, L1 in [0, 2]
            + w_ov  * J(M_i, M_j)                            Jaccard overlap of mentioned movies
            + w_int * cos(e_i, e_j) * J(M_i, M_j)            interaction: same movies AND same talk
with w_sem + w_emo + w_ov + w_int = 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class SimilarityWeights:
    semantic: float = 0.4
    emotional: float = 0.2
    overlap: float = 0.2
    interaction: float = 0.2

    def __post_init__(self) -> None:
        total = self.semantic + self.emotional + self.overlap + self.interaction
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"similarity weights must sum to 1, got {total:.3f}")


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
