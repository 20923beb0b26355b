"""ACFL's alpha_t and gamma_t are read from the sample's probability but carry no gradient (the paper's adaptive
factors are weights, Algorithm 2 differentiates the focal term only): the gradient by hand with them held fixed.
Removing the detach in trainer.losses.acfl_from_log_p changes this gradient, and this test fails."""
from __future__ import annotations

import math

import torch

from trainer.losses import ACFLParams, acfl_from_log_p


def test_the_adaptive_factors_are_held_fixed_in_the_gradient() -> None:
    params = ACFLParams()  # alpha 0.6, gamma 2.5: at p = 0.5 neither factor is clipped
    p = 0.5
    log_p = torch.tensor([math.log(p)], requires_grad=True)
    counts = torch.tensor([3])  # N_c = 3: sampling weight 1 (between theta_min 2 and theta_max 5)
    loss = acfl_from_log_p(log_p, torch.tensor([0]), counts, params).sum()
    loss.backward()
    w_c = 1 / (3 + params.eps)
    alpha_t, gamma_t = params.alpha * p + params.eps, params.gamma * (1 - p)
    # l = -w_c alpha_t (1 - p)^g log p with alpha_t, g constants; dp / dlog p = p
    by_hand = -w_c * alpha_t * ((1 - p) ** gamma_t - math.log(p) * gamma_t * (1 - p) ** (gamma_t - 1) * p)
    assert log_p.grad is not None
    assert abs(float(log_p.grad[0]) - by_hand) < 1e-6
    assert abs(float(loss) - (-w_c * alpha_t * (1 - p) ** gamma_t * math.log(p))) < 1e-6
