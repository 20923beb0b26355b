"""Recommendation and generation metrics as pure numpy / python functions.

Recommendation inputs: `ranked` int array [n, >=k] of item indices (best first), `targets` int array [n]
(one gold item per row; multi-target turns are expanded to one row per target, as in CRSLab).
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


def _rank_of_target(ranked: IntArray, targets: IntArray, k: int) -> IntArray:
    """0-based rank of the target in the top-k, or -1 when absent."""
    top = ranked[:, :k] == targets[:, None]
    return np.where(top.any(axis=1), top.argmax(axis=1), -1)


def per_row_scores(ranked: IntArray, targets: IntArray, k: int) -> dict[str, FloatArray]:
    """Each row's hit (recall), NDCG gain 1/log2(rank+2) and reciprocal rank 1/(rank+1) of its target in the top-k
    (0 when absent); the @k metrics are their means over rows."""
    rank = _rank_of_target(ranked, targets, k)
    found = rank >= 0
    safe = np.maximum(rank, 0)
    return {"recall": found.astype(np.float64),
            "ndcg": np.where(found, 1.0 / np.log2(safe + 2.0), 0.0),
            "mrr": np.where(found, 1.0 / (safe + 1.0), 0.0)}


def _mean_score(ranked: IntArray, targets: IntArray, k: int, name: str) -> float:
    return float(per_row_scores(ranked, targets, k)[name].mean()) if len(targets) else 0.0


def recall_at_k(ranked: IntArray, targets: IntArray, k: int) -> float:
    return _mean_score(ranked, targets, k, "recall")


def ndcg_at_k(ranked: IntArray, targets: IntArray, k: int) -> float:
    return _mean_score(ranked, targets, k, "ndcg")


def mrr_at_k(ranked: IntArray, targets: IntArray, k: int) -> float:
    return _mean_score(ranked, targets, k, "mrr")


def coverage_at_k(ranked: IntArray, n_items: int, k: int) -> float:
    """Share of the catalogue that appears in at least one top-k list."""
    return float(len(np.unique(ranked[:, :k])) / n_items) if n_items else 0.0


def ild_at_k(ranked: IntArray, item_embeddings: FloatArray, k: int, chunk: int = 1024) -> float:
    """Intra-list diversity: mean pairwise cosine distance inside each top-k list."""
    if k < 2 or len(ranked) == 0:
        return 0.0
    emb = item_embeddings / np.clip(np.linalg.norm(item_embeddings, axis=1, keepdims=True), 1e-12, None)
    total = 0.0
    for start in range(0, len(ranked), chunk):  # [chunk, k, d] at a time: ILD@50 over every test row fits in memory
        lists = emb[ranked[start:start + chunk, :k]]              # [n, k, d]
        # the sum of pairwise cosines in a list = |sum of its vectors|^2 - sum of the self-similarities
        summed = lists.sum(axis=1)
        off_diag = np.einsum("nd,nd->n", summed, summed) - np.einsum("nkd,nkd->n", lists, lists)
        total += float((1.0 - off_diag / (k * (k - 1))).sum())
    return total / len(ranked)


def pwp_at_k(ranked: IntArray, targets: IntArray, popularity: FloatArray, k: int) -> float:
    """Popularity-weighted precision in LumiCRS's orientation (Table 8: lower is better, its tail model lowest): each
    hit in the top k counts by its target's popularity, p(y) = log(1 + pop(y)) / log(1 + max pop) in [0, 1], averaged
    over rows. A hit on the most mentioned movie counts 1, a hit on a movie never seen in training 0: a model whose
    hits are rare movies scores low. The paper gives no formula (Sec. 5.1); this one is ours, and it is 0 for a model
    with no hits at all, so it is read beside R@k as the paper prints it."""
    if len(targets) == 0:
        return 0.0
    top = float(np.log1p(popularity.max())) if len(popularity) else 0.0
    weights = np.log1p(popularity[targets]) / top if top > 0 else np.zeros(len(targets))
    hits = _rank_of_target(ranked, targets, k) >= 0
    return float((weights * hits).mean())


def rarity_weighted_recall_at_k(ranked: IntArray, targets: IntArray, popularity: FloatArray, k: int) -> float:
    """Hits weighted by w(y) = 1 / log2(2 + pop(y)), normalised by sum w: 1.0 means every row is a hit, and hitting
    rare targets counts more than hitting popular ones (higher is better). Called PWP here until PWP took the
    paper's orientation (pwp_at_k); the project's figures up to then named PWP@10 are this."""
    if len(targets) == 0:
        return 0.0
    weights = 1.0 / np.log2(2.0 + popularity[targets])
    hits = _rank_of_target(ranked, targets, k) >= 0
    return float((weights * hits).sum() / weights.sum())


# --- generation ---------------------------------------------------------------------------

TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    return TOKEN_RE.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def bleu_statistics(hypothesis: str, reference: str, max_n: int) -> tuple[int, ...]:
    """One pair's share of corpus BLEU: clipped matches for n = 1..max_n, n-gram totals, hypothesis and reference
    lengths. Summed over any set of pairs they give that set's corpus BLEU (bleu_from_statistics): a bootstrap
    resamples rows of these instead of re-tokenising."""
    h, r = tokenize(hypothesis), tokenize(reference)
    matches, totals = [], []
    for n in range(1, max_n + 1):
        h_counts, r_counts = Counter(ngrams(h, n)), Counter(ngrams(r, n))
        matches.append(sum(min(c, r_counts[g]) for g, c in h_counts.items()))
        totals.append(max(len(h) - n + 1, 0))
    return (*matches, *totals, len(h), len(r))


def bleu_from_statistics(summed: Sequence[float], max_n: int) -> float:
    matches, totals = summed[:max_n], summed[max_n:2 * max_n]
    hyp_len, ref_len = summed[2 * max_n], summed[2 * max_n + 1]
    if min(totals) == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / max(hyp_len, 1))
    return brevity * math.exp(log_precision)


def bleu(hypotheses: Sequence[str], references: Sequence[str], max_n: int) -> float:
    """Corpus BLEU-n (uniform weights 1..n, brevity penalty, one reference per hypothesis)."""
    summed = [0] * (2 * max_n + 2)
    for hyp, ref in zip(hypotheses, references, strict=True):
        summed = [a + b for a, b in zip(summed, bleu_statistics(hyp, ref, max_n))]
    return bleu_from_statistics(summed, max_n)


def _f1(overlap: int, hyp_total: int, ref_total: int) -> float:
    if overlap == 0:
        return 0.0
    precision, recall = overlap / hyp_total, overlap / ref_total
    return 2 * precision * recall / (precision + recall)


def rouge_n(hypothesis: str, reference: str, n: int) -> float:
    h, r = Counter(ngrams(tokenize(hypothesis), n)), Counter(ngrams(tokenize(reference), n))
    return _f1(sum((h & r).values()), sum(h.values()), sum(r.values()))


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(hypothesis: str, reference: str) -> float:
    h, r = tokenize(hypothesis), tokenize(reference)
    return _f1(_lcs_length(h, r), len(h), len(r))


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Distinct-n over a corpus: unique n-grams / all n-grams."""
    grams = [g for t in texts for g in ngrams(tokenize(t), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def unicrs_bleu_row(hypothesis: str, reference: str, n: int) -> float:
    """One response's UniCRS/CRSLab `bleu@n`: the clipped n-gram precision alone times the brevity penalty
    (whitespace tokens; 0 when shorter than n or without a match)."""
    h, r = hypothesis.split(), reference.split()
    total = max(len(h) - n + 1, 0)
    if not total:  # shorter than n; no unigram match also scores 0, through the clipped count
        return 0.0
    h_counts, r_counts = Counter(ngrams(h, n)), Counter(ngrams(r, n))
    brevity = 1.0 if len(h) > len(r) else math.exp(1 - len(r) / len(h))
    return brevity * sum((h_counts & r_counts).values()) / total


def unicrs_bleu_at(hypotheses: Sequence[str], references: Sequence[str], n: int) -> float:
    """UniCRS/CRSLab's `bleu@n`: unicrs_bleu_row averaged over responses."""
    scores = [unicrs_bleu_row(hyp, ref, n) for hyp, ref in zip(hypotheses, references, strict=True)]
    return float(np.mean(scores)) if scores else 0.0


def unicrs_dist_at(hypotheses: Iterable[str], n: int) -> float:
    """UniCRS's `dist@n`: distinct whitespace n-grams of the whole output divided by the number of non-empty
    responses (a count per response, so it can exceed 1 and grows with the sample)."""
    texts = [h for h in hypotheses if h.strip()]
    grams = {g for t in texts for g in ngrams(t.split(), n)}
    return len(grams) / len(texts) if texts else 0.0


def generation_report(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Ours (corpus BLEU, ROUGE F1, Distinct as a ratio) and, for tables like LumiCRS Table 6, UniCRS's definitions."""
    pairs = list(zip(hypotheses, references, strict=True))
    return {
        "bleu-2": bleu(hypotheses, references, 2),
        "bleu-3": bleu(hypotheses, references, 3),
        "rouge-2": float(np.mean([rouge_n(h, r, 2) for h, r in pairs])) if pairs else 0.0,
        "rouge-l": float(np.mean([rouge_l(h, r) for h, r in pairs])) if pairs else 0.0,
        **{f"distinct-{n}": distinct_n(hypotheses, n) for n in (2, 3, 4)},
        **{f"unicrs_bleu@{n}": unicrs_bleu_at(hypotheses, references, n) for n in (2, 3)},
        **{f"unicrs_dist@{n}": unicrs_dist_at(hypotheses, n) for n in (2, 3, 4)},
    }
