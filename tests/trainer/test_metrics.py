from __future__ import annotations

import math

import numpy as np
import pytest

from trainer.evaluation import EvalRows, protocol_report
from trainer.metrics import (
    bleu,
    coverage_at_k,
    distinct_n,
    ild_at_k,
    mrr_at_k,
    ndcg_at_k,
    per_row_scores,
    pwp_at_k,
    recall_at_k,
    rouge_l,
    rouge_n,
)

RANKED = np.array([[3, 1, 2], [0, 2, 1], [2, 0, 3]])
TARGETS = np.array([1, 3, 2])  # rank 1, absent, rank 0
ROWS = EvalRows(TARGETS, [(), (), ()], np.array([0, 1, 2]))


def test_recall_ndcg_mrr_by_hand() -> None:
    assert recall_at_k(RANKED, TARGETS, 1) == pytest.approx(1 / 3)
    assert recall_at_k(RANKED, TARGETS, 3) == pytest.approx(2 / 3)
    assert ndcg_at_k(RANKED, TARGETS, 3) == pytest.approx((1 / math.log2(3) + 1.0) / 3)
    assert mrr_at_k(RANKED, TARGETS, 3) == pytest.approx((0.5 + 1.0) / 3)
    assert mrr_at_k(RANKED, TARGETS, 1) == pytest.approx(1 / 3)


def test_tail_recall_and_coverage() -> None:
    is_tail = np.array([False, True, False, True])  # rows 0 (target 1) and 1 (target 3) are tail
    report = protocol_report(RANKED, ROWS, np.ones(3, dtype=bool), {"tail": is_tail}, np.ones(4), np.eye(4), (3,), 50, 0)
    assert report["tail_recall@3"] == pytest.approx(0.5)
    assert coverage_at_k(RANKED, n_items=8, k=1) == pytest.approx(3 / 8)
    assert coverage_at_k(RANKED, n_items=4, k=3) == pytest.approx(1.0)


def test_ild_by_hand() -> None:
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    # list [0, 1]: orthogonal -> distance 1; list [0, 2]: identical -> 0
    assert ild_at_k(np.array([[0, 1], [0, 2]]), emb, 2) == pytest.approx(0.5)


def test_pwp_rewards_rare_hits() -> None:
    popularity = np.array([100.0, 0.0, 0.0, 0.0])
    ranked = np.array([[0], [2]])
    w_pop, w_rare = 1 / math.log2(102), 1 / math.log2(2)
    assert pwp_at_k(ranked, np.array([0, 1]), popularity, 1) == pytest.approx(w_pop / (w_pop + w_rare))
    assert pwp_at_k(ranked, np.array([3, 2]), popularity, 1) == pytest.approx(w_rare / (w_rare + w_rare))


def test_bleu_by_hand() -> None:
    assert bleu(["the cat sat"], ["the cat sat"], 2) == pytest.approx(1.0)
    # hyp "the cat" vs ref "the cat sat down": p1 = 1, p2 = 1, BP = exp(1 - 4/2)
    assert bleu(["the cat"], ["the cat sat down"], 2) == pytest.approx(math.exp(-1))
    assert bleu(["a b"], ["c d"], 2) == 0.0


def test_rouge_by_hand() -> None:
    # bigrams hyp {the cat, cat sat}, ref {the cat, cat ran}: overlap 1 -> P = R = 1/2
    assert rouge_n("the cat sat", "the cat ran", 2) == pytest.approx(0.5)
    # LCS("a b c d", "a c d e") = 3 -> P = 3/4, R = 3/4
    assert rouge_l("a b c d", "a c d e") == pytest.approx(0.75)


def test_distinct_by_hand() -> None:
    # bigrams: (a b), (b a), (a b) -> 2 unique / 3
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert distinct_n(["a b c", "a b c"], 3) == pytest.approx(1 / 2)


def test_report_has_recall_per_tier() -> None:
    tiers = {"head": np.array([True, False, True, False]), "tail": np.array([False, True, False, True])}
    report = protocol_report(RANKED, ROWS, np.ones(3, dtype=bool), tiers, np.ones(4), np.eye(4), (3,), 50, 0)
    assert report["tail_recall@3"] == pytest.approx(0.5) and report["head_recall@3"] == pytest.approx(1.0)


def test_per_row_scores_are_what_the_means_average() -> None:
    rows = per_row_scores(RANKED, TARGETS, 3)
    assert rows["recall"].tolist() == [1.0, 0.0, 1.0]
    assert rows["ndcg"].tolist() == pytest.approx([1 / math.log2(3), 0.0, 1.0])
    assert rows["mrr"].tolist() == pytest.approx([0.5, 0.0, 1.0])
