"""benchmarks/logit_adjustment.py: the adjustment by hand, the trained biases restored, tau chosen on validation."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tests.trainer.test_learning_curve import load


def test_the_bias_drops_by_tau_times_ln_one_plus_the_count() -> None:
    adjust = load("logit_adjustment")
    bias, counts = torch.tensor([1.0, 0.5, -2.0]), torch.tensor([0, 1, 99])
    expected = [1.0, 0.5 - 0.3 * math.log(2.0), -2.0 - 0.3 * math.log(100.0)]
    assert adjust.adjusted_bias(bias, counts, 0.3).tolist() == pytest.approx(expected)
    assert torch.equal(adjust.adjusted_bias(bias, counts, 0.0), bias)


def test_the_trained_biases_come_back_after_the_block_even_on_an_error() -> None:
    adjust = load("logit_adjustment")
    model = nn.Module()
    model.item_bias = nn.Parameter(torch.tensor([0.2, 0.1]))
    counts = torch.tensor([9, 0])
    with adjust.logit_adjusted(model, counts, 1.0):
        inside = model.item_bias.detach().clone()
    assert inside.tolist() == pytest.approx([0.2 - math.log(10.0), 0.1])  # the frequent movie lost ground
    with pytest.raises(RuntimeError), adjust.logit_adjusted(model, counts, 0.5):
        raise RuntimeError("scoring failed")
    assert model.item_bias.tolist() == pytest.approx([0.2, 0.1])


def test_tau_is_chosen_on_validation_recall_only() -> None:
    adjust = load("logit_adjustment")
    valid = {0.0: {"recall@10": 0.20, "tail_recall@10": 0.00}, 0.2: {"recall@10": 0.22, "tail_recall@10": 0.01},
             0.5: {"recall@10": 0.22, "tail_recall@10": 0.09}, 0.8: {"recall@10": None}}
    assert adjust.choose_tau(valid) == 0.2  # best R@10, the smaller tau on a tie; a missing metric never wins


def test_a_table_cell_is_na_where_the_subset_has_no_rows() -> None:
    """The table's cells come from benchmarks/recommendation.py's cell."""
    adjust = load("logit_adjustment")
    assert adjust.cell({"recall@10": 0.2071, "recall@10_lo": 0.195, "recall@10_hi": 0.2191}, "recall@10", ci=True) \
        == "0.207 [0.195, 0.219]"
    assert adjust.cell({"rows_tail": 0.0}, "tail_recall@10", ci=True) == "n/a"
    assert adjust.cell({"coverage@10": 0.31}, "coverage@10") == "0.310"


def test_the_default_sweep_includes_no_adjustment_and_the_intervals_use_1000_resamples() -> None:
    adjust = load("logit_adjustment")
    defaults = adjust.arguments(["redial-acfl"])
    assert (defaults.run, defaults.taus, defaults.bootstrap) == ("redial-acfl", [0.0, 0.1, 0.2, 0.3, 0.5, 0.8], 1000)
    given = adjust.arguments(["r", "--taus", "0", "0.4", "--bootstrap", "200"])
    assert (given.taus, given.bootstrap) == ([0.0, 0.4], 200)
