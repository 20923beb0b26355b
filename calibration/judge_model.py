"""How far each LLM judge agrees with the reviewers, and the chance a reviewer would approve a candidate.

A binary Dawid-Skene model (Dawid & Skene 1979), fitted by EM with the human verdicts as observed labels where they
exist (semi-supervised: a decided candidate's class is clamped to its verdict, the rest are latent):

    z_i ~ Bernoulli(pi)                                   z_i = 1: a reviewer approves candidate i
    P(judge j passes i | z_i = 1) = se_j  (sensitivity)   P(judge j fails i | z_i = 0) = sp_j  (specificity)

    posterior(i) = P(z_i = 1 | votes_i) = sigmoid( logit(pi) + sum_j w_j(v_ij) )
        w_j(pass) = log(se_j / (1 - sp_j)),  w_j(fail) = log((1 - se_j) / sp_j),  w_j(no valid vote) = 0

M-step with one pseudo-count per cell (Laplace; a judge seen on few candidates stays near 1/2, i.e. near no weight):

    se_j = (sum_i T_i [v_ij = pass] + 1) / (sum_i T_i [v_ij valid] + 2)
    sp_j = (sum_i (1 - T_i) [v_ij = fail] + 1) / (sum_i (1 - T_i) [v_ij valid] + 2)
    pi   = (sum_i T_i + 1) / (N + 2)

with T_i the current posterior (the verdict, 0 or 1, for decided candidates). A judge's `weight` is
w_j(pass) - w_j(fail) = log(se_j sp_j / ((1 - se_j)(1 - sp_j))): 0 for a judge that votes at random
(se_j + sp_j = 1), large for one that agrees with the reviewers. `posterior` is always the votes-only value, what a
reviewer would be expected to decide before anybody looked, also for the candidates a human decided.

Thresholds for routing are chosen on the human-decided candidates with cross-fitted posteriors (each fold's
posteriors come from a model fitted without that fold's verdicts), so a verdict never vouches for itself.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]

MIN_DECIDED = 50  # human-decided candidates (both verdicts present) before the posterior policy may route
MIN_TASKS = 30  # a precision is never claimed on fewer decided candidates than this
FOLDS = 5
MAX_ITERATIONS = 200  # EM's cap; a fit that reaches it says so (JudgeModel.cap_message)


@dataclass(frozen=True)
class JudgeModel:
    judges: tuple[str, ...]
    sensitivity: tuple[float, ...]
    specificity: tuple[float, ...]
    prior: float
    posterior: tuple[float, ...]  # votes-only P(approve), one per candidate, in the input order
    iterations: int
    converged: bool = True  # False: EM stopped at its iteration cap (`max_iterations`) before the change fell below tol
    max_iterations: int = MAX_ITERATIONS

    def cap_message(self) -> str | None:
        """One line when EM stopped at its cap: its estimates are the last iterate, not a fixed point."""
        if self.converged:
            return None
        return (f"the judge model stopped at its iteration cap ({self.max_iterations}) before converging: its "
                f"estimates are the last iterate")

    def weight(self, judge: str) -> float:
        j = self.judges.index(judge)
        se, sp = self.sensitivity[j], self.specificity[j]
        return math.log(se * sp / ((1 - se) * (1 - sp)))


def vote_matrix(votes: Sequence[Mapping[str, bool | None]], judges: Sequence[str]) -> Floats:
    """votes[i][judge]: True pass, False fail, None or absent: no valid vote -> an (N, J) array of 1 / 0 / nan."""
    matrix = np.full((len(votes), len(judges)), np.nan)
    for i, row in enumerate(votes):
        for j, judge in enumerate(judges):
            value = row.get(judge)
            if value is not None:
                matrix[i, j] = float(value)
    return matrix


def log_odds(matrix: Floats, sensitivity: Floats, specificity: Floats, prior: float) -> Floats:
    """logit(pi) + sum_j w_j(v_ij) for every row (missing votes add nothing)."""
    w_pass = np.log(sensitivity / (1 - specificity))
    w_fail = np.log((1 - sensitivity) / specificity)
    contribution = np.where(matrix == 1, w_pass, np.where(matrix == 0, w_fail, 0.0))
    total: Floats = float(np.log(prior / (1 - prior))) + contribution.sum(axis=1)
    return total


def _sigmoid(x: Floats) -> Floats:
    result: Floats = 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))
    return result


def unique_rows(votes: Sequence[Mapping[str, bool | None]], labels: Sequence[bool | None],
                judges: Sequence[str]) -> tuple[Floats, NDArray[np.bool_], Floats, Floats, NDArray[np.intp]]:
    """The distinct (votes, verdict) rows with their counts, 2^J x 3 of them at most: (matrix of 1 / 0 / nan, known,
    verdict 0/1, counts, the row of each input candidate). The EM's sums over candidates are sums over these rows."""
    full = vote_matrix(votes, judges)
    state = np.array([-1.0 if label is None else float(bool(label)) for label in labels])
    keys, inverse, counts = np.unique(np.column_stack([np.nan_to_num(full, nan=-1.0), state]).reshape(-1, len(judges) + 1),
                                      axis=0, return_inverse=True, return_counts=True)
    matrix = np.where(keys[:, :-1] == -1.0, np.nan, keys[:, :-1])
    return matrix, keys[:, -1] >= 0, np.clip(keys[:, -1], 0.0, 1.0), counts.astype(float), inverse.reshape(-1)


@dataclass(frozen=True)
class Fit:
    sensitivity: Floats
    specificity: Floats
    prior: float
    iterations: int
    converged: bool  # False: EM stopped at its iteration cap, the estimates are its last iterate


def fit_rows(matrix: Floats, known: NDArray[np.bool_], label_values: Floats, weight: Floats, *,
             max_iterations: int = MAX_ITERATIONS, tol: float = 1e-8) -> Fit:
    """EM for the model in the module docstring over weighted distinct rows (see unique_rows)."""
    valid = ~np.isnan(matrix)
    passed = np.nan_to_num(matrix) == 1
    counted = valid.sum(axis=1)  # rows without a valid vote start at 1/2
    share = np.where(counted > 0, np.where(valid, matrix, 0.0).sum(axis=1) / np.maximum(counted, 1), 0.5)
    t = np.where(known, label_values, np.nan_to_num(share, nan=0.5))
    sensitivity = specificity = np.full(matrix.shape[1], 0.5)
    prior, iteration, converged = 0.5, 0, False
    for iteration in range(1, max_iterations + 1):
        wt = weight * t
        sensitivity = ((wt[:, None] * passed).sum(0) + 1) / ((wt[:, None] * valid).sum(0) + 2)
        wf = weight * (1 - t)
        specificity = ((wf[:, None] * (valid & ~passed)).sum(0) + 1) / ((wf[:, None] * valid).sum(0) + 2)
        prior = float((wt.sum() + 1) / (weight.sum() + 2))
        updated = np.where(known, label_values, _sigmoid(log_odds(matrix, sensitivity, specificity, prior)))
        change = float(np.abs(updated - t).max()) if len(t) else 0.0
        t = updated
        if change < tol:
            converged = True
            break
    return Fit(sensitivity, specificity, prior, iteration, converged)


def fit_judges(votes: Sequence[Mapping[str, bool | None]], labels: Sequence[bool | None],
               judges: Sequence[str] | None = None, *, max_iterations: int = MAX_ITERATIONS, tol: float = 1e-8) -> JudgeModel:
    """EM for the model in the module docstring. labels[i]: the human verdict (True approve) or None."""
    if len(votes) != len(labels):
        raise ValueError(f"votes ({len(votes)}) and labels ({len(labels)}) differ in length")
    names = tuple(judges) if judges is not None else tuple(sorted({j for row in votes for j in row}))
    matrix, known, label_values, weight, inverse = unique_rows(votes, labels, names)
    fit = fit_rows(matrix, known, label_values, weight, max_iterations=max_iterations, tol=tol)
    posterior = _sigmoid(log_odds(matrix, fit.sensitivity, fit.specificity, fit.prior))[inverse]
    return JudgeModel(names, tuple(map(float, fit.sensitivity)), tuple(map(float, fit.specificity)), fit.prior,
                      tuple(map(float, posterior)), fit.iterations, fit.converged, max_iterations)


def cross_fitted_posteriors(votes: Sequence[Mapping[str, bool | None]], labels: Sequence[bool | None],
                            judges: Sequence[str] | None = None, *, folds: int = FOLDS, seed: int = 0) -> Floats:
    """Votes-only posteriors for the labelled rows, each from a model fitted with its own fold's verdicts hidden
    (nan for unlabelled rows)."""
    labelled = np.array([i for i, label in enumerate(labels) if label is not None])
    result = np.full(len(labels), np.nan)
    if len(labelled) == 0:
        return result
    order = np.random.default_rng(seed).permutation(labelled)
    for fold in np.array_split(order, min(folds, len(order))):
        hidden = set(fold.tolist())
        model = fit_judges(votes, [None if i in hidden else label for i, label in enumerate(labels)], judges)
        result[fold] = np.asarray(model.posterior)[fold]
    return result


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Threshold:
    """Route with posterior >= at (accept) or <= at (discard); None: no cut holds the precision on MIN_TASKS."""
    at: float | None
    precision: float  # the share the decided candidates on that side agree with (approved, or rejected)
    interval: tuple[float, float]
    tasks: int  # decided candidates on that side of the cut


def choose_threshold(posteriors: Sequence[float], approved: Sequence[bool], precision: float, *,
                     side: str = "accept", min_tasks: int = MIN_TASKS) -> Threshold:
    """The widest cut whose decided candidates on the routed side agree with the route at >= `precision`.

    accept: the smallest t with share approved among {posterior >= t} >= precision and at least min_tasks of them;
    discard: the largest t with share rejected among {posterior <= t} >= precision, the same minimum.
    Ties in the posterior move together (a cut never splits equal posteriors).
    """
    if side not in ("accept", "discard"):
        raise ValueError(f"side must be accept or discard, got {side!r}")
    p = np.asarray(posteriors, dtype=float)
    agree = np.asarray(approved, dtype=bool) if side == "accept" else ~np.asarray(approved, dtype=bool)
    order = np.argsort(-p if side == "accept" else p, kind="stable")
    p, agree = p[order], agree[order]
    best = Threshold(None, float("nan"), (0.0, 1.0), 0)
    hits = np.cumsum(agree)
    for k in range(len(p)):
        if k + 1 < len(p) and p[k + 1] == p[k]:
            continue  # take every candidate tied at this posterior or none
        n = k + 1
        share = hits[k] / n
        if n >= min_tasks and share >= precision:
            best = Threshold(float(p[k]), float(share), wilson_interval(int(hits[k]), n), n)
    return best
