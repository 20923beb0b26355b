from __future__ import annotations

import math

import pytest
import torch

from trainer.losses import (
    RarityFocalParams,
    adaptive_sampling_weights,
    ce_plus_kl,
    class_frequency_weights,
    cross_entropy,
    focal_loss,
    hard_example_mask,
    kl_soft_labels,
    multilabel_soft_ce,
    prototype_compactness,
    rarity_alpha_gamma,
    rarity_focal_loss,
)

# logits [0, ln 3] -> p = [1/4, 3/4]
LOGITS = torch.tensor([[0.0, math.log(3.0)]])


def test_cross_entropy_by_hand() -> None:
    assert cross_entropy(LOGITS, torch.tensor([1])).item() == pytest.approx(-math.log(0.75))


def test_focal_by_hand_and_gamma_zero_is_ce() -> None:
    expected = -0.5 * (0.25 ** 2) * math.log(0.75)
    assert focal_loss(LOGITS, torch.tensor([1]), gamma=2.0, alpha=0.5).item() == pytest.approx(expected)
    assert focal_loss(LOGITS, torch.tensor([0]), gamma=0.0).item() == pytest.approx(-math.log(0.25))


def test_class_weights_by_hand() -> None:
    # N=10, C=2: n=(8,2) -> (10/16)^0.5, (10/4)^0.5
    w = class_frequency_weights(torch.tensor([8, 2]), beta=0.5)
    assert w.tolist() == pytest.approx([math.sqrt(10 / 16), math.sqrt(10 / 4)])
    assert class_frequency_weights(torch.tensor([1000, 1]), beta=1.0, w_max=3.0)[1].item() == 3.0


def test_rarity_alpha_gamma_by_hand_and_clipped() -> None:
    weights = torch.tensor([0.5, 1.5])  # mean 1 -> rarity 0.5 and 1.5
    params = RarityFocalParams(gamma=2.0, alpha=0.6, gamma_power=1.0, gamma_max=2.5, alpha_min=0.25)
    alpha_t, gamma_t = rarity_alpha_gamma(weights, torch.tensor([0, 1]), params)
    assert alpha_t.tolist() == pytest.approx([0.3, 0.9])
    assert gamma_t.tolist() == pytest.approx([1.0, 2.5])  # 3.0 clipped to gamma_max


def test_hard_example_mask_keeps_top_k() -> None:
    mask = hard_example_mask(torch.tensor([0.1, 5.0, 0.3, 2.0]), topk_ratio=0.5, easy_weight=0.2)
    assert mask.tolist() == pytest.approx([0.2, 1.0, 0.2, 1.0])


def test_rarity_focal_by_hand() -> None:
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, math.log(3.0)]])
    targets = torch.tensor([1, 0])  # p_t = 0.75, 0.25
    weights = torch.tensor([1.0, 1.0])  # rarity 1 -> alpha_t = alpha, gamma_t = gamma
    params = RarityFocalParams(gamma=2.0, alpha=0.5, topk_ratio=0.5, easy_weight=0.5)
    l_easy = -0.5 * 0.25 ** 2 * math.log(0.75)
    l_hard = -0.5 * 0.75 ** 2 * math.log(0.25)
    expected = (0.5 * l_easy + 1.0 * l_hard) / 1.5
    assert rarity_focal_loss(logits, targets, weights, params).item() == pytest.approx(expected)


def test_rarity_focal_gradients_flow() -> None:
    logits = torch.randn(8, 5, requires_grad=True)
    rarity_focal_loss(logits, torch.randint(0, 5, (8,)), torch.ones(5)).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_sampling_weights_by_hand() -> None:
    w = adaptive_sampling_weights(torch.tensor([4, 1]), torch.tensor([0, 1]), tau=0.5)
    assert w.tolist() == pytest.approx([0.5 / 0.75, 1.0 / 0.75])


def test_kl_and_soft_ce_by_hand() -> None:
    q = torch.tensor([[0.5, 0.5]])
    kl = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert kl_soft_labels(LOGITS, q).item() == pytest.approx(kl)
    assert multilabel_soft_ce(LOGITS, q).item() == pytest.approx(-0.5 * (math.log(0.25) + math.log(0.75)))
    combined = ce_plus_kl(LOGITS, torch.tensor([1]), q, kl_alpha=0.4).item()
    assert combined == pytest.approx(-math.log(0.75) + 0.4 * kl)


def test_rarity_focal_with_uneven_class_weights_by_hand() -> None:
    """Weights whose mean is not 1 (2.0 here): rarity is relative to the mean, so the rare target's example gets
    alpha * 1.5 and gamma * 1.5 and the common one alpha * 0.5 and gamma * 0.5 (gamma_power 1, nothing clipped)."""
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, math.log(3.0)]])
    targets = torch.tensor([1, 0])  # p_t = 0.75 (rare class 1), 0.25 (common class 0)
    weights = torch.tensor([1.0, 3.0])
    params = RarityFocalParams(gamma=2.0, alpha=0.6, gamma_power=1.0, topk_ratio=0.5, easy_weight=0.4)
    rare = -0.9 * 0.25 ** 3.0 * math.log(0.75)     # alpha 0.6 * 1.5, gamma 2 * 1.5
    common = -0.3 * 0.75 ** 1.0 * math.log(0.25)   # alpha 0.6 * 0.5, gamma 2 * 0.5
    per_example = [rare, common]
    hard = max(range(2), key=lambda i: per_example[i])
    mask = [1.0 if i == hard else 0.4 for i in range(2)]
    expected = sum(m * v for m, v in zip(mask, per_example)) / sum(mask)
    assert rarity_focal_loss(logits, targets, weights, params).item() == pytest.approx(expected, rel=1e-6)
    doubled = rarity_focal_loss(logits, targets, weights * 2, params).item()  # only relative rarity matters
    assert doubled == pytest.approx(expected, rel=1e-6)


def test_rarity_gamma_power_and_clipping_on_both_sides() -> None:
    weights = torch.tensor([0.25, 4.0, 1.0])  # mean 1.75
    params = RarityFocalParams(gamma=2.0, alpha=1.0, gamma_power=0.5, gamma_min=1.2, gamma_max=2.2,
                        alpha_min=0.3, alpha_max=1.5)
    alpha_t, gamma_t = rarity_alpha_gamma(weights, torch.tensor([0, 1, 2]), params)
    rarity = [0.25 / 1.75, 4.0 / 1.75, 1.0 / 1.75]
    assert alpha_t.tolist() == pytest.approx([max(0.3, r) if r < 1 else min(1.5, r) for r in rarity])
    assert gamma_t.tolist() == pytest.approx([min(2.2, max(1.2, 2.0 * r ** 0.5)) for r in rarity])
    assert alpha_t[0].item() == pytest.approx(0.3) and alpha_t[1].item() == pytest.approx(1.5)
    assert gamma_t[0].item() == pytest.approx(1.2) and gamma_t[1].item() == pytest.approx(2.2)


def test_class_weights_clip_at_both_ends_and_unseen_classes_count_once() -> None:
    w = class_frequency_weights(torch.tensor([1000, 10, 0]), beta=1.0, w_min=0.5, w_max=50.0)
    n, c = 1011.0, 3  # the unseen class counts as 1
    assert w.tolist() == pytest.approx([max(0.5, n / (c * 1000)), n / (c * 10), min(50.0, n / c)])
    assert w[0].item() == 0.5 and w[2].item() == 50.0 and 0.5 < w[1].item() < 50.0


def test_hard_example_mask_rounds_k_up_and_keeps_at_least_one() -> None:
    losses = torch.tensor([0.5, 0.1, 0.9, 0.3, 0.7])
    assert hard_example_mask(losses, topk_ratio=0.3, easy_weight=0.0).tolist() == [0, 0, 1, 0, 1]  # ceil(1.5) = 2
    assert hard_example_mask(losses, topk_ratio=0.0, easy_weight=0.25).tolist() == [0.25, 0.25, 1, 0.25, 0.25]


def test_focal_alpha_scales_and_sampling_tau_zero_is_uniform() -> None:
    targets = torch.tensor([1])
    assert focal_loss(LOGITS, targets, gamma=1.0, alpha=0.2).item() == pytest.approx(-0.2 * 0.25 * math.log(0.75))
    assert adaptive_sampling_weights(torch.tensor([9, 1, 4]), torch.tensor([0, 1, 2, 0]), tau=0.0).tolist() == [1.0] * 4
    w = adaptive_sampling_weights(torch.tensor([9, 1]), torch.tensor([0, 1]), tau=1.0)
    assert w.tolist() == pytest.approx([(1 / 9) / (5 / 9), 1.0 / (5 / 9)])


def test_defaults_are_the_papers_settings() -> None:
    logits, targets = torch.tensor([[0.2, 1.0, -0.5], [1.5, 0.0, 0.3]]), torch.tensor([0, 2])
    soft = torch.tensor([[0.2, 0.8, 0.0], [0.5, 0.0, 0.5]])
    assert focal_loss(logits, targets).item() == pytest.approx(focal_loss(logits, targets, gamma=2.0, alpha=1.0).item())
    counts = torch.tensor([400.0, 1.0, 0.0])
    assert class_frequency_weights(counts).tolist() == pytest.approx(
        class_frequency_weights(counts, beta=0.5, w_min=0.1, w_max=10.0).tolist())
    assert adaptive_sampling_weights(counts, targets).tolist() == pytest.approx(
        adaptive_sampling_weights(counts, targets, tau=0.5).tolist())
    assert ce_plus_kl(logits, targets, soft).item() == pytest.approx(ce_plus_kl(logits, targets, soft, kl_alpha=0.5).item())
    assert not torch.equal(class_frequency_weights(counts), class_frequency_weights(counts, beta=1.5))


def test_batch_losses_are_means_of_row_losses() -> None:
    logits = torch.tensor([[0.0, math.log(3.0)], [math.log(3.0), 0.0], [0.0, 0.0]])
    soft = torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
    rows = [multilabel_soft_ce(logits[i:i + 1], soft[i:i + 1]).item() for i in range(3)]
    assert multilabel_soft_ce(logits, soft).item() == pytest.approx(sum(rows) / 3)
    kls = [kl_soft_labels(logits[i:i + 1], soft[i:i + 1]).item() for i in range(3)]
    assert kl_soft_labels(logits, soft).item() == pytest.approx(sum(kls) / 3)
    targets = torch.tensor([1, 0, 1])
    focal = [focal_loss(logits[i:i + 1], targets[i:i + 1]).item() for i in range(3)]
    assert focal_loss(logits, targets).item() == pytest.approx(sum(focal) / 3)


def test_prototype_compactness_by_hand() -> None:
    queries = torch.tensor([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    prototypes = torch.tensor([[0.0, 0.0], [6.0, 8.0], [100.0, 100.0]])
    # nearest prototype distances 0, 5, 0 -> squared mean 25 / 3
    assert prototype_compactness(queries, prototypes).item() == pytest.approx(25 / 3)
    assert prototype_compactness(queries[1:2], prototypes[:1]).item() == pytest.approx(25.0)
