"""Composite dialogue similarity (LumiCRS Sec. 4.2.2, prototype selection), vectorised over row chunks.

The paper's formula, as written, for a prototype p and a corpus sample x:
    Sim_sem = cos(v_p, v_x)
    Sim_emo = 1 / (1 + ||e_p - e_x||_1)                       inverse L1 distance of the emotion vectors
    Sim_mov = |M(p) & M(x)|                                   the number of shared movies (a count)
    R       = Sim_sem * Sim_emo * 1 / (1 + exp(-alpha * Sim_mov))   the interaction factor
    Final   = w_sem * Sim_sem + w_emo * Sim_emo + w_mov * Sim_mov + w_int * R,  weights summing to 1
The paper states neither the weights nor alpha ("stable values adopted from previous studies"): 0.4/0.2/0.2/0.2 and
alpha = 1 are ours. (An earlier variant of ours, with a Jaccard movie overlap, was removed: README "Prototype
selection" has the comparison; no measurement spoke for it.)
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
    alpha: float = 1.0  # the interaction's sigmoid slope

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
                    w: SimilarityWeights) -> np.ndarray:
    """Composite similarity of the dialogues in `rows` against all dialogues: [len(rows), n]."""
    cosine = emb[rows] @ emb.T
    l1 = np.abs(emo[rows][:, None, :] - emo[None, :, :]).sum(axis=-1)
    inter = np.asarray((movies[rows] @ movies.T).todense())
    emotion = 1.0 / (1.0 + l1)
    interaction = cosine * emotion / (1.0 + np.exp(-w.alpha * inter))
    return w.semantic * cosine + w.emotional * emotion + w.overlap * inter + w.interaction * interaction


def top_k_neighbours(emb: np.ndarray, emo: np.ndarray, movie_sets: list[set[int]], w: SimilarityWeights,
                     k: int, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """For every dialogue, the k most similar other dialogues: (indices [n, k], scores [n, k])."""
    n = len(movie_sets)
    movies = movie_matrix(movie_sets)
    k = min(k, max(n - 1, 0))
    indices = np.zeros((n, k), dtype=np.int64)
    scores = np.zeros((n, k), dtype=np.float32)
    for start in range(0, n, chunk):
        block = slice(start, min(start + chunk, n))
        sim = composite_block(block, emb, emo, movies, w)
        sim[np.arange(sim.shape[0]), np.arange(block.start, block.stop)] = -np.inf  # never your own neighbour
        if k == 0:
            continue
        part = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        part_scores = np.take_along_axis(sim, part, axis=1)
        order = np.argsort(-part_scores, axis=1)
        indices[block] = np.take_along_axis(part, order, axis=1)
        scores[block] = np.take_along_axis(part_scores, order, axis=1)
    return indices, scores
