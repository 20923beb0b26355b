"""The judge model's per-judge estimates over all candidates (calibration.judge_estimates), against the reviewed-only
counts the votes policy's 2-3 band gives, and the iteration cap said aloud."""
from __future__ import annotations

import numpy as np
import pytest

from annotator.agreement import judge_verdict_table
from augment.routing import RouteSummary, describe_route, route_for
from calibration.judge_estimates import estimate_judges, implied_kappa
from calibration.judge_model import fit_judges

PANEL = {"good": (0.90, 0.85), "fair": (0.80, 0.70), "lenient": (0.75, 0.55), "loose": (0.85, 0.60),
         "random": (0.50, 0.50)}


def test_implied_kappa_by_hand() -> None:
    # se .8, sp .7, pi .6: p_pass = .48 + .12 = .6; p_o = .48 + .28 = .76; p_e = .6 * .6 + .4 * .4 = .52 -> .24 / .48
    assert implied_kappa(0.8, 0.7, 0.6) == pytest.approx(0.5)
    # se .9, sp .6, pi .3: p_pass = .27 + .28 = .55; p_o = .27 + .42 = .69; p_e = .55 * .3 + .45 * .7 = .48
    assert implied_kappa(0.9, 0.6, 0.3) == pytest.approx(0.21 / 0.52)
    assert implied_kappa(0.5, 0.5, 0.6) == pytest.approx(0.0) and implied_kappa(1.0, 1.0, 0.4) == pytest.approx(1.0)


def band_panel(seed: int, n: int = 600) -> tuple[list[dict[str, bool | None]], list[bool | None]]:
    """Votes for n candidates; reviewers decided only the 2-3-pass band, as the votes policy leaves it."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < 0.6
    votes: list[dict[str, bool | None]] = [{j: bool(rng.random() < (se if t else 1 - sp)) for j, (se, sp) in PANEL.items()}
                                           for t in truth]
    labels: list[bool | None] = [bool(t) if route_for(sum(bool(x) for x in v.values())) == "needs_review" else None
                                 for v, t in zip(votes, truth, strict=True)]
    return votes, labels


def test_on_the_reviewed_band_good_judges_look_like_chance_and_the_model_recovers_them() -> None:
    votes, labels = band_panel(seed=1)
    reviewed = judge_verdict_table([(j, bool(p), bool(label)) for v, label in zip(votes, labels, strict=True)
                                    if label is not None for j, p in v.items()])
    panel = estimate_judges(votes, labels, rounds=100)
    by_name = {e.judge: e for e in panel.judges}
    assert panel.decided == sum(label is not None for label in labels) < len(votes) / 2
    for judge, (se, sp) in PANEL.items():
        true_kappa = implied_kappa(se, sp, 0.6)
        low, high = by_name[judge].kappa_ci
        assert low - 0.05 <= true_kappa <= high + 0.05, judge  # the model's interval holds the truth
        assert reviewed[judge]["kappa"] < true_kappa - 0.1, judge  # the selected sample understates every judge
    assert reviewed["lenient"]["kappa"] < 0.05 < by_name["lenient"].kappa_ci[0]  # a useful judge: "chance" on the band
    assert by_name["random"].kappa_ci[0] <= 0 <= by_name["random"].kappa_ci[1]


def test_bootstrap_intervals_hold_the_estimate_and_repeat_with_the_seed() -> None:
    votes, labels = band_panel(seed=2, n=300)
    first, again = estimate_judges(votes, labels, rounds=50, seed=3), estimate_judges(votes, labels, rounds=50, seed=3)
    assert first == again
    for e in first.judges:
        assert e.sensitivity_ci[0] <= e.sensitivity <= e.sensitivity_ci[1]
        assert e.specificity_ci[0] <= e.specificity <= e.specificity_ci[1]
        assert e.kappa == pytest.approx(implied_kappa(e.sensitivity, e.specificity, first.prior))


def test_an_em_stopped_at_its_cap_says_so_and_a_converged_one_does_not() -> None:
    votes, labels = band_panel(seed=4, n=200)
    capped = fit_judges(votes, labels, max_iterations=1)
    assert not capped.converged and capped.iterations == 1
    assert capped.cap_message() == ("the judge model stopped at its iteration cap (1) before converging: its "
                                    "estimates are the last iterate")
    settled = fit_judges(votes, labels)
    assert settled.converged and settled.iterations < 200 and settled.cap_message() is None
    assert estimate_judges(votes, labels, rounds=5).cap_message is None
    summary = RouteSummary({"needs_review": 1}, 0, cap_message=capped.cap_message())
    assert describe_route(summary)[0] == capped.cap_message()
    assert describe_route(RouteSummary({}, 0))[0].startswith("human-decided candidates with votes")
