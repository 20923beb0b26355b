"""Losses as pure torch functions: CE, focal, the paper's ACFL, our rarity-driven focal loss, KL soft labels.

ACFL exactly as LumiCRS writes it (Sec. 4.1, Eq. 2-6 and Algorithm 2), p_t = the model's probability of the
true item, N_c = the number of training samples of class c:
    w_c        = 1 / (N_c + eps)                                   (Eq. 2)
    alpha_t    = clip(alpha * p_t + eps, alpha_min, alpha_max)     (Eq. 3)
    gamma_t    = clip(gamma * (1 - p_t), gamma_min, gamma_max)     (Eq. 4)
    tau_k      = quantile(p_i, k) over the batch; M_i = 1{p_i <= tau_k}                       (Eq. 5)
    w_sample,c = 1 + 1/N_c if N_c < theta_min; 1 - N_c/N_max if N_c > theta_max; else 1       (Eq. 6)
    l_i        = -w_c * w_sample * alpha_t * (1 - p_t) ** gamma_t * log p_t
    ACFL       = mean of l_i over the samples with M_i = 1                                     (Algorithm 2)
Eq. 5's direction: the paper prints `p_i >= tau_k`, but its text computes the loss "only for the most challenging
samples" and the authors' released code keeps the hardest ones, `p_i <= tau_k`: that is the default here
(`mask="hardest"`); `mask="printed"` gives the printed inequality. Our reading where the paper is silent:
alpha_t, gamma_t and the mask are factors computed from p_t without gradient (the gradient flows through
(1 - p_t) ** gamma_t * log p_t, as in focal-loss implementations); the quantile is torch.quantile's linear one.

`rarity_focal` is the loss this project called ACFL before: alpha and gamma driven by the target's class rarity,
a clipped inverse-frequency weight and a soft mask that keeps easy examples at `easy_weight`. It is ours, not
the paper's:
    w_c      = clip((N / (C * n_c)) ** beta, w_min, w_max);  r_y = w_y / mean(w)
    alpha_t  = clip(alpha * r_y, alpha_min, alpha_max);  gamma_t = clip(gamma * r_y ** gamma_power, ...)
    l_i      = -alpha_t * (1 - p_t) ** gamma_t * log p_t
    m_i      = 1 for the top-K highest-loss examples (K = ceil(topk_ratio * B)), easy_weight otherwise
    loss     = sum(m_i * l_i) / sum(m_i)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

MaskDirection = Literal["hardest", "printed"]


def cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    return F.cross_entropy(logits, targets)


def focal_loss(logits: Tensor, targets: Tensor, gamma: float = 2.0, alpha: float = 1.0) -> Tensor:
    log_p = F.log_softmax(logits, dim=-1).gather(1, targets[:, None]).squeeze(1)
    p_t = log_p.exp()
    return (-alpha * (1 - p_t).pow(gamma) * log_p).mean()


def target_log_prob(logits: Tensor, targets: Tensor) -> Tensor:
    return F.log_softmax(logits.float(), dim=-1).gather(1, targets[:, None]).squeeze(1)


# ---- ACFL as the paper writes it -------------------------------------------------------------------------


@dataclass(frozen=True)
class ACFLParams:
    """The paper's ACFL settings. gamma 2.5, alpha 0.6, k = 25% are its best values (Sec. 6); the clip ranges,
    eps and the sampling thresholds are not given in the paper: ours, chosen to match the tiers (tail: fewer than
    2 training samples, head: more than 5)."""

    gamma: float = 2.5
    alpha: float = 0.6
    k: float = 0.25
    mask: MaskDirection = "hardest"
    eps: float = 1e-6
    alpha_min: float = 0.1
    alpha_max: float = 1.0
    gamma_min: float = 0.5
    gamma_max: float = 5.0
    theta_min: float = 2.0
    theta_max: float = 5.0
    class_weight_power: float = 1.0  # 1.0: Eq. 2 as written; below 1 a softened weight (our departure, named)


def acfl_class_weights(counts: Tensor, eps: float = 1e-6, power: float = 1.0) -> Tensor:
    """Eq. 2: w_c = 1 / (N_c + eps) (power 1); (N_c + eps) ** -power otherwise."""
    return (counts.float() + eps).pow(-power)


def acfl_sampling_weights(counts: Tensor, theta_min: float, theta_max: float) -> Tensor:
    """Eq. 6 per class: 1 + 1/N_c below theta_min, 1 - N_c/N_max above theta_max, else 1 (N_c = 0: 1 + 1/eps is
    not reached, an unseen class is never a training target; it gets 1)."""
    counts = counts.float()
    n_max = counts.max().clamp(min=1.0)
    weights = torch.ones_like(counts)
    rare = (counts < theta_min) & (counts > 0)
    weights[rare] = 1.0 + 1.0 / counts[rare]
    frequent = counts > theta_max
    weights[frequent] = 1.0 - counts[frequent] / n_max
    return weights


def acfl_factors(p_t: Tensor, params: ACFLParams) -> tuple[Tensor, Tensor]:
    """Eq. 3 and 4: alpha_t and gamma_t from the sample's own probability."""
    alpha_t = (params.alpha * p_t + params.eps).clamp(params.alpha_min, params.alpha_max)
    gamma_t = (params.gamma * (1 - p_t)).clamp(params.gamma_min, params.gamma_max)
    return alpha_t, gamma_t


def acfl_mask(p_t: Tensor, k: float, direction: MaskDirection = "hardest") -> Tensor:
    """Eq. 5: tau_k = the k-quantile of p over the batch; hardest keeps p_i <= tau_k, printed keeps p_i >= tau_k."""
    tau_k = torch.quantile(p_t, k)
    return p_t <= tau_k if direction == "hardest" else p_t >= tau_k


def acfl_per_example(logits: Tensor, targets: Tensor, counts: Tensor, params: ACFLParams) -> Tensor:
    """l_i = -w_c * w_sample * alpha_t * (1 - p_t) ** gamma_t * log p_t (before the mask)."""
    return acfl_from_log_p(target_log_prob(logits, targets), targets, counts, params)


def acfl_from_log_p(log_p: Tensor, targets: Tensor, counts: Tensor, params: ACFLParams) -> Tensor:
    p_t = log_p.exp()
    alpha_t, gamma_t = acfl_factors(p_t.detach(), params)
    class_counts = counts.to(log_p.device)
    w_c = acfl_class_weights(class_counts, params.eps, params.class_weight_power)[targets]
    w_sample = acfl_sampling_weights(class_counts, params.theta_min, params.theta_max)[targets]
    return -w_c * w_sample * alpha_t * (1 - p_t).pow(gamma_t) * log_p


def acfl_loss(logits: Tensor, targets: Tensor, counts: Tensor, params: ACFLParams | None = None) -> Tensor:
    """Algorithm 2: the mean of l_i over the masked samples. `counts`: training samples per class (N_c)."""
    params = params or ACFLParams()
    log_p = target_log_prob(logits, targets)  # one log-softmax over the catalog serves the loss and the mask
    per_example = acfl_from_log_p(log_p, targets, counts, params)
    mask = acfl_mask(log_p.exp().detach(), params.k, params.mask)
    return per_example[mask].mean()


# ---- rarity_focal: the project's own variant (not the paper's) --------------------------------------------


@dataclass(frozen=True)
class RarityFocalParams:
    gamma: float = 2.5
    alpha: float = 0.6
    gamma_power: float = 0.5
    gamma_min: float = 0.5
    gamma_max: float = 5.0
    alpha_min: float = 0.25
    alpha_max: float = 2.0
    topk_ratio: float = 0.25
    easy_weight: float = 0.3


def class_frequency_weights(counts: Tensor, beta: float = 0.5, w_min: float = 0.1, w_max: float = 10.0) -> Tensor:
    """(N / (C * n_c)) ** beta, clipped; classes never seen count as seen once."""
    counts = counts.float().clamp(min=1.0)
    weights = (counts.sum() / (counts.numel() * counts)).pow(beta)
    return weights.clamp(w_min, w_max)


def rarity_alpha_gamma(class_weights: Tensor, targets: Tensor, params: RarityFocalParams) -> tuple[Tensor, Tensor]:
    rarity = class_weights[targets] / class_weights.mean()
    alpha_t = (params.alpha * rarity).clamp(params.alpha_min, params.alpha_max)
    gamma_t = (params.gamma * rarity.pow(params.gamma_power)).clamp(params.gamma_min, params.gamma_max)
    return alpha_t, gamma_t


def hard_example_mask(per_example: Tensor, topk_ratio: float, easy_weight: float) -> Tensor:
    k = max(1, math.ceil(topk_ratio * per_example.numel()))
    mask = torch.full_like(per_example, easy_weight)
    mask[per_example.detach().topk(k).indices] = 1.0
    return mask


def rarity_focal_per_example(logits: Tensor, targets: Tensor, class_weights: Tensor,
                             params: RarityFocalParams) -> Tensor:
    log_p = target_log_prob(logits, targets)
    alpha_t, gamma_t = rarity_alpha_gamma(class_weights, targets, params)
    return -alpha_t * (1 - log_p.exp()).pow(gamma_t) * log_p


def rarity_focal_loss(logits: Tensor, targets: Tensor, class_weights: Tensor,
                      params: RarityFocalParams | None = None) -> Tensor:
    params = params or RarityFocalParams()
    per_example = rarity_focal_per_example(logits, targets, class_weights, params)
    mask = hard_example_mask(per_example, params.topk_ratio, params.easy_weight)
    return (mask * per_example).sum() / mask.sum()


def adaptive_sampling_weights(class_counts: Tensor, targets: Tensor, tau: float = 0.5) -> Tensor:
    """Per-example sampling weight ~ n_y ** -tau, normalised to mean 1 (tau=0: uniform)."""
    weights = class_counts.float().clamp(min=1.0)[targets].pow(-tau)
    return weights / weights.mean()


# ---- Beyond Single Labels, prototypes ----------------------------------------------------------------------


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
