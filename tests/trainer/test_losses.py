from __future__ import annotations

import math

import pytest
import torch

from trainer.losses import (
    ACFLParams,
    acfl_loss,
    adaptive_alpha_gamma,
    adaptive_sampling_weights,
    ce_plus_kl,
    class_frequency_weights,
    cross_entropy,
    focal_loss,
    hard_example_mask,
    kl_soft_labels,
    multilabel_soft_ce,
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


def test_adaptive_alpha_gamma_by_hand_and_clipped() -> None:
    weights = torch.tensor([0.5, 1.5])  # mean 1 -> rarity 0.5 and 1.5
    params = ACFLParams(gamma=2.0, alpha=0.6, gamma_power=1.0, gamma_max=2.5, alpha_min=0.25)
    alpha_t, gamma_t = adaptive_alpha_gamma(weights, torch.tensor([0, 1]), params)
    assert alpha_t.tolist() == pytest.approx([0.3, 0.9])
    assert gamma_t.tolist() == pytest.approx([1.0, 2.5])  # 3.0 clipped to gamma_max


def test_hard_example_mask_keeps_top_k() -> None:
    mask = hard_example_mask(torch.tensor([0.1, 5.0, 0.3, 2.0]), topk_ratio=0.5, easy_weight=0.2)
    assert mask.tolist() == pytest.approx([0.2, 1.0, 0.2, 1.0])


def test_acfl_by_hand() -> None:
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, math.log(3.0)]])
    targets = torch.tensor([1, 0])  # p_t = 0.75, 0.25
    weights = torch.tensor([1.0, 1.0])  # rarity 1 -> alpha_t = alpha, gamma_t = gamma
    params = ACFLParams(gamma=2.0, alpha=0.5, topk_ratio=0.5, easy_weight=0.5)
    l_easy = -0.5 * 0.25 ** 2 * math.log(0.75)
    l_hard = -0.5 * 0.75 ** 2 * math.log(0.25)
    expected = (0.5 * l_easy + 1.0 * l_hard) / 1.5
    assert acfl_loss(logits, targets, weights, params).item() == pytest.approx(expected)


def test_acfl_gradients_flow() -> None:
    logits = torch.randn(8, 5, requires_grad=True)
    acfl_loss(logits, torch.randint(0, 5, (8,)), torch.ones(5)).backward()
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
