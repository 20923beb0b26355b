"""Each judge as the judge model estimates it over every judged candidate, not only the reviewed ones.

Under the votes policy reviewers only see the 2-3-vote band, where a judge that passes is usually outvoted by
judges that fail: on that selected sample a good judge can show a kappa near zero or below. The Dawid-Skene fit
(calibration.judge_model) uses every judged candidate, the unreviewed ones as latent, so its sensitivity and
specificity estimate the judge on all candidates (under its assumption that judges err independently given the
truth). From them, the kappa the model implies between a judge and the reviewers over all candidates:

    p_pass = pi se + (1 - pi)(1 - sp)        the judge's pass rate
    p_o    = pi se + (1 - pi) sp             judge and reviewer agree
    p_e    = p_pass pi + (1 - p_pass)(1 - pi)
    kappa  = (p_o - p_e) / (1 - p_e)

Intervals: 95% percentile bootstrap over candidates (multinomial weights on the distinct rows, EM refitted each
round).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from calibration.judge_model import fit_judges, fit_rows, unique_rows

ROUNDS = 200


def implied_kappa(sensitivity: float, specificity: float, prior: float) -> float:
    """Cohen's kappa between a judge (se, sp) and the reviewers over all candidates approved at rate `prior`."""
    p_pass = prior * sensitivity + (1 - prior) * (1 - specificity)
    observed = prior * sensitivity + (1 - prior) * specificity
    expected = p_pass * prior + (1 - p_pass) * (1 - prior)
    return float("nan") if expected >= 1.0 else (observed - expected) / (1 - expected)


@dataclass(frozen=True)
class JudgeEstimate:
    judge: str
    sensitivity: float
    specificity: float
    kappa: float
    sensitivity_ci: tuple[float, float]
    specificity_ci: tuple[float, float]
    kappa_ci: tuple[float, float]


@dataclass(frozen=True)
class PanelEstimate:
    judges: tuple[JudgeEstimate, ...]
    prior: float  # the estimated approve rate over all judged candidates
    candidates: int
    decided: int
    cap_message: str | None  # set when the EM on the data stopped at its iteration cap


def estimate_judges(votes: Sequence[Mapping[str, bool | None]], labels: Sequence[bool | None],
                    judges: Sequence[str] | None = None, *, rounds: int = ROUNDS, seed: int = 0) -> PanelEstimate:
    """Per judge: the model's sensitivity, specificity and implied kappa with bootstrap intervals."""
    model = fit_judges(votes, labels, judges)
    matrix, known, label_values, counts, _ = unique_rows(votes, labels, model.judges)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(rounds):
        weight = rng.multinomial(len(votes), counts / counts.sum()).astype(float)
        fit = fit_rows(matrix, known, label_values, weight)
        draws.append([(se, sp, implied_kappa(se, sp, fit.prior))
                      for se, sp in zip(fit.sensitivity, fit.specificity, strict=True)])
    sample = np.asarray(draws)  # (rounds, judges, 3)

    def interval(j: int, k: int) -> tuple[float, float]:
        return float(np.percentile(sample[:, j, k], 2.5)), float(np.percentile(sample[:, j, k], 97.5))

    estimates = tuple(JudgeEstimate(name, se, sp, implied_kappa(se, sp, model.prior), interval(j, 0), interval(j, 1),
                                    interval(j, 2))
                      for j, (name, se, sp) in enumerate(zip(model.judges, model.sensitivity, model.specificity,
                                                             strict=True)))
    return PanelEstimate(estimates, model.prior, len(votes), sum(label is not None for label in labels),
                         model.cap_message())
