from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from trainer.evaluation import EvalRows, protocol_report
from trainer.metrics import (
    bleu,
    coverage_at_k,
    distinct_n,
    generation_report,
    ild_at_k,
    mrr_at_k,
    ndcg_at_k,
    per_row_scores,
    pwp_at_k,
    rarity_weighted_recall_at_k,
    recall_at_k,
    rouge_l,
    rouge_n,
    unicrs_bleu_at,
    unicrs_dist_at,
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


def test_rarity_weighted_recall_rewards_rare_hits() -> None:
    popularity = np.array([100.0, 0.0, 0.0, 0.0])
    ranked = np.array([[0], [2]])
    w_pop, w_rare = 1 / math.log2(102), 1 / math.log2(2)
    assert rarity_weighted_recall_at_k(ranked, np.array([0, 1]), popularity, 1) == pytest.approx(w_pop / (w_pop + w_rare))
    assert rarity_weighted_recall_at_k(ranked, np.array([3, 2]), popularity, 1) == pytest.approx(w_rare / (w_rare + w_rare))


def test_pwp_ranks_a_tail_hitting_list_below_a_head_hitting_one_as_the_paper_does() -> None:
    """LumiCRS Table 8: PWP is lower-is-better and its tail model has the lowest. Two models with the same recall:
    one hits the blockbuster (pop 100), the other the tail movie (pop 1); by hand, p(y) = ln(1 + pop) / ln(101)."""
    popularity = np.array([100.0, 1.0, 0.0, 30.0])
    targets = np.array([0, 1, 2])
    head_hitter = np.array([[0, 3], [3, 0], [3, 0]])   # hits row 0 (pop 100) only
    tail_hitter = np.array([[3, 2], [1, 3], [3, 0]])   # hits row 1 (pop 1) only
    assert pwp_at_k(head_hitter, targets, popularity, 2) == pytest.approx(1.0 / 3)
    assert pwp_at_k(tail_hitter, targets, popularity, 2) == pytest.approx(math.log(2) / math.log(101) / 3)
    assert pwp_at_k(tail_hitter, targets, popularity, 2) < pwp_at_k(head_hitter, targets, popularity, 2)
    # a hit on a movie never seen in training weighs nothing; a hit outside the top k does not count
    assert pwp_at_k(np.array([[2, 0]]), np.array([2]), popularity, 2) == 0.0
    assert pwp_at_k(np.array([[3, 0]]), np.array([0]), popularity, 1) == 0.0
    assert pwp_at_k(np.array([[3, 0]]), np.array([0]), popularity, 2) == pytest.approx(1.0)


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


def test_ranking_metrics_use_the_target_position_inside_the_top_k_only() -> None:
    ranked = np.array([[5, 6, 7, 8], [8, 7, 6, 5], [1, 2, 3, 4]])
    targets = np.array([7, 5, 9])  # rank 2, rank 3, absent
    for k, recall, ndcg, mrr in [(1, 0, 0, 0), (2, 0, 0, 0), (3, 1, 1 / math.log2(4), 1 / 3),
                                 (4, 2, 1 / math.log2(4) + 1 / math.log2(5), 1 / 3 + 1 / 4)]:
        assert recall_at_k(ranked, targets, k) == pytest.approx(recall / 3)
        assert ndcg_at_k(ranked, targets, k) == pytest.approx(ndcg / 3)
        assert mrr_at_k(ranked, targets, k) == pytest.approx(mrr / 3)
    assert per_row_scores(ranked, targets, 4)["ndcg"].tolist() == pytest.approx([0.5, 1 / math.log2(5), 0.0])


def test_metrics_of_nothing_are_zero() -> None:
    empty = np.zeros((0, 3), dtype=np.int64)
    none = np.zeros(0, dtype=np.int64)
    assert recall_at_k(empty, none, 3) == ndcg_at_k(empty, none, 3) == mrr_at_k(empty, none, 3) == 0.0
    assert pwp_at_k(empty, none, np.ones(4), 3) == rarity_weighted_recall_at_k(empty, none, np.ones(4), 3) == 0.0
    assert coverage_at_k(RANKED, n_items=0, k=3) == 0.0
    assert ild_at_k(empty, np.eye(3), 3) == 0.0
    assert distinct_n([], 2) == 0.0 and distinct_n(["one two"], 3) == 0.0
    assert bleu([""], ["a b"], 2) == 0.0 and bleu(["a"], ["a"], 2) == 0.0


def test_ild_is_scale_free_and_averages_every_pair() -> None:
    emb = np.array([[2.0, 0.0], [0.0, 3.0], [-5.0, 0.0]])
    # pairs (0,1) distance 1, (0,2) distance 2, (1,2) distance 1 -> mean 4/3
    assert ild_at_k(np.array([[0, 1, 2]]), emb, 3) == pytest.approx(4 / 3)
    assert ild_at_k(np.array([[0, 1, 2], [0, 2, 1]]), emb, 2) == pytest.approx((1 + 2) / 2)
    assert ild_at_k(np.array([[0, 1, 2]]), emb, 1) == 0.0


def test_bleu_clips_counts_accumulates_the_corpus_and_penalises_only_short_output() -> None:
    assert bleu(["the the the"], ["the cat"], 1) == pytest.approx(1 / 3)
    assert bleu(["a b c d"], ["a b c e"], 3) == pytest.approx((3 / 4 * 2 / 3 * 1 / 2) ** (1 / 3))
    assert bleu(["a b", "c d e"], ["a b", "c x e"], 2) == pytest.approx(math.sqrt(4 / 5 * 1 / 3))
    assert bleu(["a b c"], ["a b"], 2) == pytest.approx(math.sqrt(2 / 3 * 1 / 2))
    assert bleu(["a"], ["a b"], 1) == pytest.approx(math.exp(1 - 2))


def test_rouge_clips_repeats_and_weighs_precision_against_recall() -> None:
    # unigrams: overlap min(3, 2) = 2 -> P 2/3, R 1 -> F1 0.8
    assert rouge_n("a a a", "a a", 1) == pytest.approx(0.8)
    assert rouge_n("x y", "a b", 2) == 0.0
    # LCS 2: P 1, R 1/2 -> F1 2/3, the same either way round
    assert rouge_l("a b", "a b c d") == pytest.approx(2 / 3) == rouge_l("a b c d", "a b")
    assert rouge_l("a b c", "c b a") == pytest.approx(1 / 3)
    assert rouge_l("a x b y c", "a b c") == pytest.approx(2 * (3 / 5) * 1 / (3 / 5 + 1))


def test_generation_report_is_the_sum_of_its_parts() -> None:
    hyps, refs = ["the cat sat on the mat", "a dog ran"], ["the cat sat on a mat", "the dog ran away"]
    report = generation_report(hyps, refs)
    assert report == pytest.approx({
        "bleu-2": bleu(hyps, refs, 2), "bleu-3": bleu(hyps, refs, 3),
        "rouge-2": (rouge_n(hyps[0], refs[0], 2) + rouge_n(hyps[1], refs[1], 2)) / 2,
        "rouge-l": (rouge_l(hyps[0], refs[0]) + rouge_l(hyps[1], refs[1])) / 2,
        "distinct-2": distinct_n(hyps, 2), "distinct-3": distinct_n(hyps, 3), "distinct-4": distinct_n(hyps, 4),
        "unicrs_bleu@2": unicrs_bleu_at(hyps, refs, 2), "unicrs_bleu@3": unicrs_bleu_at(hyps, refs, 3),
        "unicrs_dist@2": unicrs_dist_at(hyps, 2), "unicrs_dist@3": unicrs_dist_at(hyps, 3),
        "unicrs_dist@4": unicrs_dist_at(hyps, 4)})
    assert 0 < report["bleu-3"] < report["bleu-2"] < 1
    assert set(generation_report([], []).values()) == {0.0}


def test_unicrs_bleu_is_one_ngram_order_per_response_averaged() -> None:
    assert unicrs_bleu_at(["a b c"], ["a b d"], 2) == pytest.approx(1 / 2)
    assert unicrs_bleu_at(["a b c d"], ["a b c e"], 3) == pytest.approx(1 / 2)
    assert unicrs_bleu_at(["a b"], ["a b c d"], 2) == pytest.approx(math.exp(1 - 4 / 2))  # short: brevity penalty
    assert unicrs_bleu_at(["a b c d e"], ["a b"], 2) == pytest.approx(1 / 4)             # long: precision only
    assert unicrs_bleu_at(["x y"], ["a b"], 2) == 0.0 and unicrs_bleu_at(["a"], ["a"], 2) == 0.0
    assert unicrs_bleu_at(["a b c", "x y"], ["a b d", "a b"], 2) == pytest.approx((1 / 2 + 0) / 2)
    assert unicrs_bleu_at([], [], 2) == 0.0


def test_unicrs_bleu_of_an_empty_reply_or_reference_is_zero() -> None:
    assert unicrs_bleu_at([""], ["a b"], 2) == 0.0 and unicrs_bleu_at(["a b"], [""], 2) == 0.0
    assert unicrs_bleu_at(["", "a b", "a"], ["a b", "a b", "a"], 2) == pytest.approx(1 / 3)  # every reply counts


@pytest.mark.parametrize("metric", [lambda h, r: unicrs_bleu_at(h, r, 2), lambda h, r: bleu(h, r, 2),
                                    generation_report])
def test_replies_and_references_must_pair_up(metric: Any) -> None:
    with pytest.raises(ValueError):
        metric(["a b", "c d"], ["a b"])
    with pytest.raises(ValueError):
        metric(["a b"], ["a b", "c d"])


def test_unicrs_dist_counts_distinct_ngrams_per_non_empty_response() -> None:
    assert unicrs_dist_at(["a b a b", "a b", ""], 2) == pytest.approx(2 / 2)
    assert unicrs_dist_at(["a b c", "d e f"], 2) == pytest.approx(4 / 2)
    assert unicrs_dist_at(["a b c", "d e f"], 4) == 0.0 and unicrs_dist_at(["", " "], 1) == 0.0


@pytest.mark.parametrize("scale", [1e-3, 0.5, 1.0, 40.0])
def test_ild_is_a_cosine_distance_so_the_embedding_length_does_not_matter(scale: float) -> None:
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]) * scale
    ranked = np.array([[0, 1, 2]])
    # pairs: (0,1) cos 0, (0,2) and (1,2) cos 1/sqrt(2) -> mean distance 1 - (2/sqrt(2))/3
    assert ild_at_k(ranked, emb, 3) == pytest.approx(1 - (2 / math.sqrt(2)) / 3)


def test_ild_of_an_item_without_an_embedding_is_finite() -> None:
    emb = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])  # item 1: all zeros (no text to embed)
    value = ild_at_k(np.array([[0, 1], [0, 2]]), emb, 2)
    assert value == pytest.approx((1.0 + 1.0) / 2)  # a zero vector is at distance 1 from everything


def test_rarity_weighted_recall_counts_a_hit_only_inside_the_top_k() -> None:
    ranked = np.array([[4, 5, 0], [1, 4, 5]])
    targets = np.array([0, 1])  # row 0 hits at rank 3, row 1 at rank 1
    popularity = np.zeros(6)
    assert rarity_weighted_recall_at_k(ranked, targets, popularity, 1) == pytest.approx(0.5)
    assert rarity_weighted_recall_at_k(ranked, targets, popularity, 2) == pytest.approx(0.5)
    assert rarity_weighted_recall_at_k(ranked, targets, popularity, 3) == pytest.approx(1.0)


def test_corpus_bleu_counts_no_bigram_slot_for_a_one_word_reply() -> None:
    # "a b c" vs "a b c": p1 3/3, p2 2/2; "a" vs "a": p1 1/1 and no bigram at all (0 of 0, not 0 of 1)
    # corpus: p1 = 4/4, p2 = 2/2, lengths equal -> 1.0
    assert bleu(["a b c", "a"], ["a b c", "a"], 2) == pytest.approx(1.0)


def test_ild_is_the_same_whatever_the_chunk_and_matches_the_pairwise_definition() -> None:
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(30, 5))
    ranked = np.stack([rng.permutation(30) for _ in range(7)])
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    by_pairs = np.mean([np.mean([1 - unit[a] @ unit[b] for i, a in enumerate(row[:6]) for j, b in enumerate(row[:6])
                                 if i != j]) for row in ranked])
    assert ild_at_k(ranked, emb, 6) == pytest.approx(by_pairs)
    assert ild_at_k(ranked, emb, 6, chunk=2) == pytest.approx(by_pairs)  # a last chunk of one row included


def test_bleu_and_bleu_at_n_from_per_row_statistics_equal_the_corpus_figures() -> None:
    from trainer.metrics import bleu, bleu_from_statistics, bleu_statistics, unicrs_bleu_at, unicrs_bleu_row
    hyps = ["try the babadook , it is scary", "hello", "", "a a a b", "watch alien tonight"]
    refs = ["you should try the babadook", "hello there friend", "anything", "a b b", "alien is great tonight"]
    for picked in ([0, 1, 2, 3, 4], [0, 0, 3], [1, 4, 4, 2]):  # resamples repeat rows
        h, r = [hyps[i] for i in picked], [refs[i] for i in picked]
        summed = [sum(col) for col in zip(*(bleu_statistics(a, b, 2) for a, b in zip(h, r)))]
        assert bleu_from_statistics(summed, 2) == pytest.approx(bleu(h, r, 2))
        assert sum(unicrs_bleu_row(a, b, 2) for a, b in zip(h, r)) / len(h) == pytest.approx(unicrs_bleu_at(h, r, 2))
    assert bleu_statistics("a a a b", "a b b", 2) == (2, 1, 4, 3, 4, 3)  # clipped 1-/2-gram matches, totals, lengths
