"""Inter-rater agreement (Krippendorff's alpha, ordinal and nominal), judge-human correlation, and each verdict judge
against the reviewers (Cohen's kappa, sensitivity, specificity)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np


def krippendorff_alpha_ordinal(units: Iterable[Iterable[int]], categories: Iterable[int] = range(1, 6)) -> float:
    """units: the scores each unit received (any number of raters). Units with < 2 scores are ignored.

    alpha = 1 - (n - 1) * sum_ck o_ck d2_ck / sum_ck n_c n_k d2_ck, with the ordinal metric
    d2_ck = (sum_{g=c..k} n_g - (n_c + n_k) / 2) ** 2 (Krippendorff 2011).
    """
    cats = list(categories)
    coincidence = coincidence_matrix(units, cats)
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    if n <= 1:
        return float("nan")
    cumulative = np.concatenate([[0.0], np.cumsum(n_c)])
    lo, hi = np.minimum.outer(range(len(cats)), range(len(cats))), np.maximum.outer(range(len(cats)), range(len(cats)))
    delta2 = (cumulative[hi + 1] - cumulative[lo] - (n_c[:, None] + n_c[None, :]) / 2.0) ** 2
    expected = (np.outer(n_c, n_c) * delta2).sum()
    if expected == 0:
        return 1.0
    return float(1.0 - (n - 1) * (coincidence * delta2).sum() / expected)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of the ranks they span (Spearman's convention)."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    position = 0
    while position < len(order):
        end = position
        while end + 1 < len(order) and values[order[end + 1]] == values[order[position]]:
            end += 1
        ranks[order[position:end + 1]] = (position + end) / 2 + 1
        position = end + 1
    return ranks


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def judge_human_correlation(pairs: list[tuple[float, float]]) -> dict[str, float]:
    """pairs: (LLM judge score, mean human score) per response and rubric."""
    if len(pairs) < 3:
        return {"n": float(len(pairs)), "spearman": float("nan"), "pearson": float("nan")}
    judge, human = np.array(pairs, dtype=float).T
    if judge.std() == 0 or human.std() == 0:
        return {"n": float(len(pairs)), "spearman": float("nan"), "pearson": float("nan")}
    # numpy only: importing scipy.stats took 4 s of the Dashboard's first render
    return {"n": float(len(pairs)), "spearman": pearson(average_ranks(judge), average_ranks(human)),
            "pearson": pearson(judge, human)}


def agreement_table(ratings: list[tuple[int, str, str, str, int]]) -> dict[str, dict[str, float]]:
    """ratings: (response_id, rater, rater_kind, rubric, score) -> per rubric alpha (humans) and correlation."""
    human: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    llm: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for response_id, _rater, kind, rubric, score in ratings:
        (human if kind == "human" else llm)[rubric][response_id].append(score)
    table: dict[str, dict[str, float]] = {}
    for rubric in sorted(set(human) | set(llm)):
        pairs = [(float(np.mean(llm[rubric][r])), float(np.mean(h))) for r, h in human[rubric].items()
                 if r in llm[rubric]]
        corr = judge_human_correlation(pairs)
        judge_units = [[j, h] for r, scores in human[rubric].items() for h in scores for j in llm[rubric].get(r, [])]
        table[rubric] = {"alpha": krippendorff_alpha_ordinal(human[rubric].values()),
                         "units": float(sum(len(v) >= 2 for v in human[rubric].values())),
                         "spearman": corr["spearman"], "pearson": corr["pearson"], "pairs": corr["n"],
                         "judge_alpha": krippendorff_alpha_ordinal(judge_units), "judge_units": float(len(judge_units))}
    return table


def cohen_kappa(pairs: list[tuple[bool, bool]]) -> tuple[float, tuple[float, float]]:
    """kappa = (p_o - p_e) / (1 - p_e) over (judge passed, reviewers approved) pairs, with the large-sample 95%
    interval kappa +- 1.96 sqrt(p_o (1 - p_o) / (n (1 - p_e)^2)), clipped to kappa's range [-1, 1] (on few pairs
    the normal approximation runs past it). nan when there is no pair or p_e = 1."""
    n = len(pairs)
    if n == 0:
        return float("nan"), (float("nan"), float("nan"))
    judge = np.array([a for a, _ in pairs], dtype=float)
    human = np.array([b for _, b in pairs], dtype=float)
    observed = float(np.mean(judge == human))
    expected = float(judge.mean() * human.mean() + (1 - judge.mean()) * (1 - human.mean()))
    if expected >= 1.0:
        return float("nan"), (float("nan"), float("nan"))
    kappa = (observed - expected) / (1 - expected)
    half = 1.96 * np.sqrt(observed * (1 - observed) / (n * (1 - expected) ** 2))
    return kappa, (max(kappa - half, -1.0), min(kappa + half, 1.0))


def judge_verdict_table(pairs: list[tuple[str, bool, bool]]) -> dict[str, dict[str, float]]:
    """pairs: (judge, passed, reviewers approved) over candidates the reviewers decided and the judge voted on
    validly -> per judge: candidates (approved + rejected), kappa with its interval, sensitivity (passes among
    approved), specificity (fails among rejected), and `chance`: 1.0 when the kappa interval reaches 0 (no better
    than chance)."""
    by_judge: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for judge, passed, approved in pairs:
        by_judge[judge].append((passed, approved))
    table: dict[str, dict[str, float]] = {}
    for judge, rows in sorted(by_judge.items()):
        kappa, (lo, hi) = cohen_kappa(rows)
        approved = [p for p, a in rows if a]
        rejected = [p for p, a in rows if not a]
        table[judge] = {"candidates": float(len(rows)), "approved": float(len(approved)),
                        "rejected": float(len(rejected)), "kappa": kappa, "kappa_lo": lo, "kappa_hi": hi,
                        "sensitivity": float(np.mean(approved)) if approved else float("nan"),
                        "specificity": float(1 - np.mean(rejected)) if rejected else float("nan"),
                        "chance": float(not lo > 0)}
    return table


def krippendorff_alpha_nominal(units: Iterable[Iterable[str]]) -> float:
    """Nominal alpha over units (the labels each unit received); units with < 2 labels are ignored.

    alpha = 1 - D_o / D_e with D_o = sum_{c != k} o_ck / n and D_e = sum_{c != k} n_c n_k / (n (n - 1)).
    """
    unit_list = [list(u) for u in units]
    labels = sorted({v for u in unit_list for v in u})
    coincidence = coincidence_matrix(unit_list, labels)
    totals = coincidence.sum(axis=1)
    n = totals.sum()
    if n <= 1:
        return float("nan")
    off_diagonal = ~np.eye(len(labels), dtype=bool)
    observed = coincidence[off_diagonal].sum() / n
    expected = np.outer(totals, totals)[off_diagonal].sum() / (n * (n - 1))
    return 1.0 if expected == 0 else float(1.0 - observed / expected)


def coincidence_matrix(units: Iterable[Iterable[Any]], categories: list[Any]) -> np.ndarray:
    """Krippendorff's coincidence matrix o_ck: each ordered pair of values within a unit of m values adds
    1 / (m - 1); units with fewer than 2 values add nothing."""
    index = {c: i for i, c in enumerate(categories)}
    coincidence = np.zeros((len(categories), len(categories)))
    for unit in units:
        values = [index[v] for v in unit]
        m = len(values)
        if m < 2:
            continue
        for i, a in enumerate(values):
            for j, b in enumerate(values):
                if i != j:
                    coincidence[a, b] += 1.0 / (m - 1)
    return coincidence
