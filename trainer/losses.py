"""Losses as pure torch functions: CE, focal, ACFL (adaptive comprehensive focal loss), KL soft labels.

ACFL, as implemented here (LumiCRS Sec. 3.3, made explicit):
    w_c      = clip((N / (C * n_c)) ** beta, w_min, w_max)         class-frequency weight, n_c = train count
    r_y      = w_y / mean(w)                                       relative rarity of the target
    alpha_t  = clip(alpha * r_y, alpha_min, alpha_max)             adaptive balance factor
    gamma_t  = clip(gamma * r_y ** gamma_power, gamma_min, gamma_max)  rarer targets focus harder
    l_i      = -alpha_t * (1 - p_t) ** gamma_t * log p_t
    m_i      = 1 for the top-K hardest examples of the batch (K = ceil(topk_ratio * B)), easy_weight otherwise
    ACFL     = sum(m_i * l_i) / sum(m_i)
Adaptive sampling is the data side: `adaptive_sampling_weights` feeds a WeightedRandomSampler.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


def cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    return F.cross_entropy(logits, targets)


def focal_loss(logits: Tensor, targets: Tensor, gamma: float = 2.0, alpha: float = 1.0) -> Tensor:
    log_p = F.log_softmax(logits, dim=-1).gather(1, targets[:, None]).squeeze(1)
    p_t = log_p.exp()
    return (-alpha * (1 - p_t).pow(gamma) * log_p).mean()


def class_frequency_weights(counts: Tensor, beta: float = 0.5, w_min: float = 0.1, w_max: float = 10.0) -> Tensor:
    """(N / (C * n_c)) ** beta, clipped; classes never seen count as seen once."""
    counts = counts.float().clamp(min=1.0)
    weights = (counts.sum() / (counts.numel() * counts)).pow(beta)
    return weights.clamp(w_min, w_max)


@dataclass(frozen=True)
class ACFLParams:
    gamma: float = 2.5
    alpha: float = 0.6
    gamma_power: float = 0.5
    gamma_min: float = 0.5
    gamma_max: float = 5.0
    alpha_min: float = 0.25
    alpha_max: float = 2.0
    topk_ratio: float = 0.25
    easy_weight: float = 0.3


def adaptive_alpha_gamma(class_weights: Tensor, targets: Tensor, params: ACFLParams) -> tuple[Tensor, Tensor]:
    rarity = class_weights[targets] / class_weights.mean()
    alpha_t = (params.alpha * rarity).clamp(params.alpha_min, params.alpha_max)
    gamma_t = (params.gamma * rarity.pow(params.gamma_power)).clamp(params.gamma_min, params.gamma_max)
    return alpha_t, gamma_t


def hard_example_mask(per_example: Tensor, topk_ratio: float, easy_weight: float) -> Tensor:
    k = max(1, math.ceil(topk_ratio * per_example.numel()))
    mask = torch.full_like(per_example, easy_weight)
    mask[per_example.detach().topk(k).indices] = 1.0
    return mask


def acfl_per_example(logits: Tensor, targets: Tensor, class_weights: Tensor, params: ACFLParams) -> Tensor:
    log_p = F.log_softmax(logits, dim=-1).gather(1, targets[:, None]).squeeze(1)
    alpha_t, gamma_t = adaptive_alpha_gamma(class_weights, targets, params)
    return -alpha_t * (1 - log_p.exp()).pow(gamma_t) * log_p


def acfl_loss(logits: Tensor, targets: Tensor, class_weights: Tensor, params: ACFLParams | None = None) -> Tensor:
    params = params or ACFLParams()
    per_example = acfl_per_example(logits, targets, class_weights, params)
    mask = hard_example_mask(per_example, params.topk_ratio, params.easy_weight)
    return (mask * per_example).sum() / mask.sum()


def adaptive_sampling_weights(class_counts: Tensor, targets: Tensor, tau: float = 0.5) -> Tensor:
    """Per-example sampling weight ~ n_y ** -tau, normalised to mean 1 (tau=0: uniform)."""
    weights = class_counts.float().clamp(min=1.0)[targets].pow(-tau)
    return weights / weights.mean()


def kl_soft_labels(logits: Tensor, soft_targets: Tensor) -> Tensor:
    """KL(q || p) with q a per-row distribution over items (rows sum to 1), batch mean."""
    return F.kl_div(F.log_softmax(logits, dim=-1), soft_targets, reduction="batchmean")


def ce_plus_kl(logits: Tensor, targets: Tensor, soft_targets: Tensor, kl_alpha: float = 0.5) -> Tensor:
    """Beyond Single Labels fine-tuning objective: CE on the gold item + alpha * KL to the soft labels."""
    return cross_entropy(logits, targets) + kl_alpha * kl_soft_labels(logits, soft_targets)


def multilabel_soft_ce(logits: Tensor, soft_targets: Tensor) -> Tensor:
    """Stage-1 pretraining on synthetic multi-label data: cross-entropy to the soft label distribution."""
    return -(soft_targets * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


def prototype_compactness(queries: Tensor, prototypes: Tensor) -> Tensor:
    """Mean squared distance of each query to its nearest prototype (pulls prototypes onto clusters)."""
    return torch.cdist(queries, prototypes).min(dim=1).values.pow(2).mean()
