"""The evaluation protocols, hand-computed: standard vs novel, random ties, bootstrap intervals, undefined subsets."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from trainer.evaluation import (
    EvalRows,
    bootstrap_weights,
    exclude_items,
    mean_with_interval,
    protocol_report,
    topk_random_ties,
)

# 4 items; rows: (target, context items, conversation)
ROWS = EvalRows(np.array([0, 1, 2, 3]), [(), (1,), (0,), (2, 3)], np.array([10, 10, 11, 12]))
RANKED = np.array([[0, 1, 2, 3], [2, 1, 0, 3], [1, 2, 3, 0], [3, 2, 1, 0]])
TAIL = np.array([False, False, True, True])
FLAT = np.ones(4)
EMB = np.eye(4)


def test_standard_protocol_keeps_repeats_and_novel_drops_them() -> None:
    assert ROWS.novel().tolist() == [True, False, True, False]  # row 1 and row 3 repeat a context movie
    everything = np.ones(4, dtype=bool)
    std = protocol_report(RANKED, ROWS, everything, {"tail": TAIL}, FLAT, EMB, (1, 2), 200, 0)
    # ranks of the targets: 0, 1, 1, 0 -> R@1 = 2/4, R@2 = 4/4; NDCG@2 = (1 + 1/log2(3) + 1/log2(3) + 1) / 4
    assert std["recall@1"] == pytest.approx(0.5) and std["recall@2"] == pytest.approx(1.0)
    assert std["ndcg@2"] == pytest.approx((2 + 2 / np.log2(3)) / 4)
    assert std["mrr@2"] == pytest.approx((1 + 0.5 + 0.5 + 1) / 4)
    assert std["tail_recall@1"] == pytest.approx(0.5) and std["rows_tail"] == 2 and std["rows"] == 4
    novel = protocol_report(RANKED, ROWS, ROWS.novel(), {"tail": TAIL}, FLAT, EMB, (1,), 200, 0)
    assert novel["rows"] == 2 and novel["recall@1"] == pytest.approx(0.5)  # rows 0 (hit) and 2 (miss)


def test_an_empty_subset_is_undefined_not_zero() -> None:
    nothing = np.zeros(4, dtype=bool)
    report = protocol_report(RANKED, ROWS, np.ones(4, dtype=bool), {"none": nothing}, FLAT, EMB, (1,), 50, 0)
    assert report["none_recall@1"] is None and report["none_recall@1_lo"] is None and report["rows_none"] == 0
    empty = protocol_report(RANKED, ROWS, np.zeros(4, dtype=bool), {}, FLAT, EMB, (1,), 50, 0)
    assert empty["recall@1"] is None and empty["coverage@1"] is None and empty["rows"] == 0


def test_context_items_leave_the_ranking_in_the_novel_protocol() -> None:
    scores = torch.tensor([[5.0, 4.0, 3.0], [5.0, 4.0, 3.0]])
    out = exclude_items(scores, [(0,), ()])
    assert out[0, 0] == -torch.inf and out[1, 0] == 5.0 and scores[0, 0] == 5.0  # a copy


def test_ties_are_broken_by_a_seeded_permutation_not_by_item_id() -> None:
    scores = torch.zeros(1, 100)  # every item tied
    first = [topk_random_ties(scores, 5, torch.randperm(100, generator=torch.Generator().manual_seed(s)))[0].tolist()
             for s in (1, 1, 2)]
    assert first[0] == first[1] != first[2] and first[0] != [0, 1, 2, 3, 4]
    clear = torch.tensor([[0.0, 3.0, 1.0, 2.0]])
    assert topk_random_ties(clear, 2, torch.randperm(4)).tolist() == [[1, 3]]


def test_bootstrap_resamples_whole_conversations_and_brackets_the_mean() -> None:
    weights = bootstrap_weights(np.array([7, 7, 9]), n_boot=500, seed=0)
    assert weights.shape == (500, 3) and (weights[:, 0] == weights[:, 1]).all()  # one conversation, one draw
    assert np.allclose(weights[:, [0, 2]].sum(axis=1), 2)  # 2 conversations drawn per resample
    values = np.array([1.0, 1.0, 0.0])
    point, lo, hi = mean_with_interval(values, np.ones(3, dtype=bool), weights)
    assert point == pytest.approx(2 / 3) and lo == pytest.approx(0.0) and hi == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    many = (rng.random(2000) < 0.3).astype(float)
    point, lo, hi = mean_with_interval(many, np.ones(2000, dtype=bool), bootstrap_weights(np.arange(2000), 400, 0))
    assert lo < point < hi and hi - lo == pytest.approx(2 * 1.96 * np.sqrt(0.3 * 0.7 / 2000), rel=0.25)


def test_the_interval_is_the_2_5_and_97_5_percentiles_of_the_bootstrap_means() -> None:
    """The 95% interval every figure carries (the project's stand-in for the papers' p < 0.05 marks): 101 resamples
    whose means are 0, 1, ..., 100 give [2.5, 97.5] by hand; the point is the plain mean of the rows."""
    values = np.array([0.0, 100.0])
    weights = np.array([[100.0 - b, float(b)] for b in range(101)])
    point, lo, hi = mean_with_interval(values, np.ones(2, dtype=bool), weights)
    assert (point, lo, hi) == (pytest.approx(50.0), pytest.approx(2.5), pytest.approx(97.5))
