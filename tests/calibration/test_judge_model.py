"""The judge model (calibration.judge_model) on hand-worked cases: EM estimates, posteriors, weights and routing cuts."""
from __future__ import annotations

import math

import numpy as np
import pytest

from calibration.judge_model import choose_threshold, cross_fitted_posteriors, fit_judges, wilson_interval


def test_fully_labelled_case_gives_the_laplace_rates_and_the_hand_posterior() -> None:
    votes = [{"A": True, "B": True}, {"A": True, "B": False}, {"A": False, "B": True}, {"A": False, "B": False}]
    model = fit_judges(votes, [True, True, False, False])
    # A: 2 of 2 approved passed -> se = (2+1)/(2+2); 2 of 2 rejected failed -> sp = 3/4. B: 1 of 2 each -> 1/2.
    assert model.sensitivity == pytest.approx((0.75, 0.5)) and model.specificity == pytest.approx((0.75, 0.5))
    assert model.prior == pytest.approx(3 / 6)
    # posterior(A pass, B pass) = sigmoid(logit(1/2) + log(.75/.25) + log(.5/.5)) = 3/4
    assert model.posterior == pytest.approx((0.75, 0.75, 0.25, 0.25))
    assert model.weight("A") == pytest.approx(math.log(9)) and model.weight("B") == pytest.approx(0.0)


def test_an_invalid_vote_adds_nothing_and_a_judge_nobody_heard_stays_at_one_half() -> None:
    votes = [{"A": True, "C": None}, {"A": False, "C": None}]
    model = fit_judges(votes, [True, False], judges=["A", "C"])
    assert model.sensitivity[1] == model.specificity[1] == pytest.approx(0.5)
    # A: se = (1+1)/(1+2) = 2/3 = sp; prior 1/2 -> posteriors 2/3 and 1/3
    assert model.posterior == pytest.approx((2 / 3, 1 / 3))


def simulated_panel(seed: int, n: int = 2000) -> tuple[list[dict[str, bool | None]], np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < 0.5
    judges = {"agrees": (0.95, 0.95), "fair-1": (0.8, 0.75), "fair-2": (0.75, 0.8), "random": (0.5, 0.5)}
    votes = [{name: bool(rng.random() < (se if t else 1 - sp)) for name, (se, sp) in judges.items()} for t in truth]
    return votes, truth


def test_a_judge_that_agrees_with_the_reviewers_gets_weight_one_that_votes_at_random_gets_none() -> None:
    votes, truth = simulated_panel(seed=3)
    labels = [bool(t) if i < 300 else None for i, t in enumerate(truth)]  # reviewers decided 300 of 2000
    model = fit_judges(votes, labels)
    assert model.weight("agrees") > 4.0  # log(.95^2 / .05^2) = 5.9
    assert abs(model.weight("random")) < 0.4
    assert model.weight("fair-1") == pytest.approx(math.log(.8 * .75 / (.2 * .25)), abs=0.5)
    accuracy = np.mean((np.asarray(model.posterior) > 0.5) == truth)
    assert accuracy > 0.95


def test_without_any_verdict_em_still_orders_the_judges() -> None:
    votes, truth = simulated_panel(seed=4)
    model = fit_judges(votes, [None] * len(votes))
    assert model.weight("agrees") > model.weight("fair-1") > model.weight("random")


def test_cross_fitted_posteriors_hide_each_folds_own_verdicts() -> None:
    # one candidate alone has the pattern (A fail): with its own verdict it would pull A's specificity; hidden, A's
    # rate comes from the others only. Unlabelled rows get no held-out value.
    votes = [{"A": True}] * 6 + [{"A": False}] + [{"A": True}]
    labels: list[bool | None] = [True] * 6 + [False] + [None]
    held_out = cross_fitted_posteriors(votes, labels, folds=7)
    assert math.isnan(held_out[7]) and not np.isnan(held_out[:7]).any()
    assert held_out[6] > fit_judges(votes, labels).posterior[6]  # its own 'reject' no longer vouches for itself


POSTERIORS = [0.9, 0.8, 0.8, 0.7, 0.6, 0.3]
APPROVED = [True, True, False, True, False, False]


def test_accept_cut_is_the_widest_that_holds_the_precision() -> None:
    cut = choose_threshold(POSTERIORS, APPROVED, 0.75, side="accept", min_tasks=2)
    assert (cut.at, cut.precision, cut.tasks) == (0.7, 0.75, 4)  # 0.9 0.8 0.8 0.7: 3 of 4 approved
    assert cut.interval == pytest.approx(wilson_interval(3, 4))


def test_a_cut_never_splits_tied_posteriors() -> None:
    # {0.9, 0.8} alone would hold 100%, but the other 0.8 (rejected) must come with it: 2 of 3 < 0.9
    assert choose_threshold(POSTERIORS, APPROVED, 0.9, side="accept", min_tasks=2).at is None


def test_discard_cut_is_symmetric() -> None:
    cut = choose_threshold(POSTERIORS, APPROVED, 0.75, side="discard", min_tasks=2)
    assert (cut.at, cut.precision, cut.tasks) == (0.6, 1.0, 2)


def test_precision_is_never_claimed_on_fewer_tasks_than_the_minimum() -> None:
    assert choose_threshold([0.99] * 29, [True] * 29, 0.95, min_tasks=30).at is None
    assert choose_threshold([0.99] * 30, [True] * 30, 0.95, min_tasks=30).at == 0.99


def test_wilson_interval_by_hand() -> None:
    lo, hi = wilson_interval(9, 10)
    assert (lo, hi) == pytest.approx((0.5958, 0.9821), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_no_candidate_gives_an_empty_model_and_identical_rows_share_one_posterior() -> None:
    assert fit_judges([], [], judges=["A"]).posterior == ()
    votes = [{"A": True, "B": False}] * 3 + [{"A": False, "B": False}]
    model = fit_judges(votes, [None, True, None, False])
    # a decided row and an undecided row with the same votes get the same votes-only posterior
    assert model.posterior[0] == model.posterior[1] == model.posterior[2] > model.posterior[3]
