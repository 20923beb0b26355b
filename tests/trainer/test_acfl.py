"""The paper's ACFL (LumiCRS Eq. 2-6, Algorithm 2), every equation computed by hand on a small batch, and the
wiring that makes `loss: acfl` in a config train with exactly that function."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from trainer.config import TrainConfig, load_config
from trainer.loop import Features, LossFn, context_matrix, train_epoch
from trainer.losses import (
    ACFLParams,
    acfl_class_weights,
    acfl_factors,
    acfl_loss,
    acfl_mask,
    acfl_per_example,
    acfl_sampling_weights,
    cross_entropy,
    focal_loss,
    rarity_focal_loss,
)
from trainer.model import LumiCRSRecommender

# 4 classes with training counts N_c = 6, 12, 1, 3 (N_max = 12); theta_min 2, theta_max 5
COUNTS = torch.tensor([6.0, 12.0, 1.0, 3.0])
LOGITS = torch.tensor([[2.0, 0.0, 0.0, 0.0],     # target 0
                       [0.0, 0.0, 1.0, 0.0],     # target 2
                       [0.0, 1.0, 0.0, -1.0],    # target 3
                       [0.5, 0.5, 0.5, 0.5]])    # target 0
TARGETS = torch.tensor([0, 2, 3, 0])
PARAMS = ACFLParams(gamma=2.5, alpha=0.6, k=0.5, mask="hardest", eps=1e-6, alpha_min=0.05, alpha_max=0.5,
                    gamma_min=1.0, gamma_max=2.2, theta_min=2.0, theta_max=5.0)


def softmax_row(row: list[float]) -> list[float]:
    z = sum(math.exp(v) for v in row)
    return [math.exp(v) / z for v in row]


def by_hand(params: ACFLParams) -> tuple[list[float], list[float], list[bool], float]:
    """p_t, per-sample l_i, mask and the loss, with nothing but math."""
    p = [softmax_row(r)[t] for r, t in zip(LOGITS.tolist(), TARGETS.tolist())]
    counts = COUNTS.tolist()
    n_max = max(counts)
    losses = []
    for p_t, c in zip(p, TARGETS.tolist()):
        n_c = counts[c]
        w_c = 1 / (n_c + params.eps)                                                  # Eq. 2
        alpha_t = min(max(params.alpha * p_t + params.eps, params.alpha_min), params.alpha_max)  # Eq. 3
        gamma_t = min(max(params.gamma * (1 - p_t), params.gamma_min), params.gamma_max)      # Eq. 4
        w_s = 1 + 1 / n_c if n_c < params.theta_min else (1 - n_c / n_max if n_c > params.theta_max else 1.0)  # Eq. 6
        losses.append(-w_c * w_s * alpha_t * (1 - p_t) ** gamma_t * math.log(p_t))
    ordered = sorted(p)
    position = params.k * (len(p) - 1)                                                # linear quantile, Eq. 5
    low = math.floor(position)
    tau = ordered[low] + (position - low) * (ordered[min(low + 1, len(p) - 1)] - ordered[low])
    mask = [v <= tau for v in p] if params.mask == "hardest" else [v >= tau for v in p]
    kept = [v for v, m in zip(losses, mask) if m]
    return p, losses, mask, sum(kept) / len(kept)                                     # Algorithm 2


def test_class_weight_is_inverse_count_eq2() -> None:
    assert acfl_class_weights(COUNTS, eps=0.5).tolist() == pytest.approx([1 / 6.5, 1 / 12.5, 1 / 1.5, 1 / 3.5])


def test_sampling_weight_has_three_cases_eq6() -> None:
    # 6 > 5: 1 - 6/12; 12 > 5: 1 - 12/12 = 0; 1 < 2: 1 + 1/1; 3 in [2, 5]: 1
    assert acfl_sampling_weights(COUNTS, 2.0, 5.0).tolist() == pytest.approx([0.5, 0.0, 2.0, 1.0])
    # the boundaries themselves are "otherwise": N_c == theta_min and N_c == theta_max give 1
    assert acfl_sampling_weights(torch.tensor([2.0, 5.0, 10.0]), 2.0, 5.0).tolist() == pytest.approx([1.0, 1.0, 0.0])


def test_alpha_and_gamma_follow_the_samples_probability_eq3_eq4() -> None:
    p_t = torch.tensor([0.001, 0.5, 0.9, 0.3])
    alpha_t, gamma_t = acfl_factors(p_t, PARAMS)
    assert alpha_t.tolist() == pytest.approx([0.05, 0.3 + 1e-6, 0.5, 0.18 + 1e-6])  # clipped low, -, clipped high, -
    assert gamma_t.tolist() == pytest.approx([2.2, 1.25, 1.0, 1.75])                  # clipped high, -, clipped low, -


def test_mask_keeps_the_hardest_by_default_and_the_printed_inequality_on_request_eq5() -> None:
    p_t = torch.tensor([0.1, 0.4, 0.2, 0.8])
    # k = 0.5: tau = the median by linear interpolation = (0.2 + 0.4) / 2 = 0.3
    assert acfl_mask(p_t, 0.5).tolist() == [True, False, True, False]
    assert acfl_mask(p_t, 0.5, "printed").tolist() == [False, True, False, True]
    # k = 0.25 on 4 samples: tau = 0.1 + 0.75 * (0.2 - 0.1) = 0.175: the single hardest sample
    assert acfl_mask(p_t, 0.25).tolist() == [True, False, False, False]
    assert ACFLParams().mask == "hardest"


@pytest.mark.parametrize("mask", ["hardest", "printed"])
def test_acfl_loss_is_the_mean_over_masked_samples_by_hand(mask: str) -> None:
    params = ACFLParams(**{**PARAMS.__dict__, "mask": mask})
    p, losses, kept, expected = by_hand(params)
    per_example = acfl_per_example(LOGITS, TARGETS, COUNTS, params)
    assert per_example.tolist() == pytest.approx(losses, rel=1e-5)
    assert acfl_mask(torch.tensor(p), params.k, params.mask).tolist() == kept
    assert acfl_loss(LOGITS, TARGETS, COUNTS, params).item() == pytest.approx(expected, rel=1e-5)
    assert sum(kept) == 2  # k = 0.5 of 4 distinct probabilities


def test_paper_defaults() -> None:
    params = ACFLParams()
    assert (params.gamma, params.alpha, params.k, params.mask) == (2.5, 0.6, 0.25, "hardest")
    cfg = TrainConfig(name="x")
    assert (cfg.loss, cfg.gamma, cfg.alpha, cfg.topk_ratio, cfg.n_prototypes) == ("acfl", 2.5, 0.6, 0.25, 50)
    assert cfg.acfl.mask == "hardest" and (cfg.acfl.theta_min, cfg.acfl.theta_max) == (2.0, 5.0)
    assert (cfg.prototype_init, cfg.freeze_prototypes, cfg.kg, cfg.kg_link_entities) == ("kmeans", False, False, True)


def test_gradient_reaches_the_logits_only_through_masked_samples() -> None:
    logits = LOGITS.clone().requires_grad_(True)
    acfl_loss(logits, TARGETS, COUNTS, PARAMS).backward()
    assert logits.grad is not None
    _, _, kept, _ = by_hand(PARAMS)
    for row, keep in enumerate(kept):
        assert bool(logits.grad[row].abs().sum() > 0) == keep


def write_config(tmp_path: Path, loss: str) -> TrainConfig:
    path = tmp_path / f"{loss}.yaml"
    path.write_text(f"name: t\nloss: {loss}\ngamma: 2.5\nalpha: 0.6\ntopk_ratio: 0.5\n"
                    "acfl:\n  alpha_min: 0.05\n  alpha_max: 0.5\n  gamma_min: 1.0\n  gamma_max: 2.2\n",
                    encoding="utf-8")
    return load_config(path)


def test_each_loss_name_in_a_config_trains_with_that_function(tmp_path: Path) -> None:
    values = {name: LossFn(write_config(tmp_path, name), COUNTS, torch.device("cpu"))(LOGITS, TARGETS).item()
              for name in ("acfl", "ce", "focal", "rarity_focal")}
    assert values["acfl"] == pytest.approx(by_hand(PARAMS)[3], rel=1e-5)
    assert values["ce"] == pytest.approx(cross_entropy(LOGITS, TARGETS).item())
    assert values["focal"] == pytest.approx(focal_loss(LOGITS, TARGETS, gamma=2.5, alpha=0.6).item())
    rarity = LossFn(write_config(tmp_path, "rarity_focal"), COUNTS, torch.device("cpu"))
    assert values["rarity_focal"] == pytest.approx(
        rarity_focal_loss(LOGITS, TARGETS, rarity.class_weights, rarity.rarity).item())
    assert len({round(v, 6) for v in values.values()}) == 4


def test_a_training_epoch_optimises_the_configured_acfl(tmp_path: Path) -> None:
    """One full-batch epoch with a frozen optimiser: the loss train_epoch reports is ACFL on the model's logits."""
    cfg = write_config(tmp_path, "acfl").model_copy(update={"batch_size": 4, "prototype_weight": 0.0})
    torch.manual_seed(0)
    model = LumiCRSRecommender(3, torch.randn(4, 3), hidden_dim=8, item_dim=4, n_prototypes=0, dropout=0.0)
    feats = Features(torch.randn(4, 3), [(), (1,), (), (2,)], TARGETS)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    reported = train_epoch(model, feats, LossFn(cfg, COUNTS, torch.device("cpu")), optimizer, cfg, 4,
                           torch.device("cpu"), torch.Generator().manual_seed(0), progress=False)
    logits = model(feats.text, context_matrix(feats.contexts, 4, torch.device("cpu")))
    expected = acfl_loss(logits, TARGETS, COUNTS, ACFLParams(k=0.5, alpha_min=0.05, alpha_max=0.5, gamma_min=1.0,
                                                             gamma_max=2.2))
    assert reported == pytest.approx(expected.item(), rel=1e-5)
    assert reported != pytest.approx(cross_entropy(logits, TARGETS).item(), rel=1e-3)


def test_the_class_weight_power_is_a_named_departure_and_one_is_eq2() -> None:
    assert acfl_class_weights(COUNTS, eps=0.0, power=0.5).tolist() == pytest.approx([6 ** -0.5, 12 ** -0.5, 1.0, 3 ** -0.5])
    assert acfl_class_weights(COUNTS, eps=0.0, power=0.0).tolist() == [1.0, 1.0, 1.0, 1.0]
    assert ACFLParams().class_weight_power == 1.0 and TrainConfig(name="x").acfl.class_weight_power == 1.0
    softened = ACFLParams(**{**PARAMS.__dict__, "class_weight_power": 0.0})
    as_written = acfl_per_example(LOGITS, TARGETS, COUNTS, PARAMS)
    flat = acfl_per_example(LOGITS, TARGETS, COUNTS, softened)
    w_c = acfl_class_weights(COUNTS, PARAMS.eps)[TARGETS]
    assert torch.allclose(flat * w_c, as_written)


def test_eq2_eq5_eq6_at_their_edges() -> None:
    # Eq. 2's default eps is tiny: the weight is 1/N_c to six decimals
    assert acfl_class_weights(torch.tensor([1.0, 4.0])).tolist() == pytest.approx([1.0, 0.25], rel=1e-5)
    # Eq. 6 with theta_min 5: N_c = 2 is rare (1 + 1/2), an unseen class (N_c = 0) gets 1, never 1 + 1/0
    assert acfl_sampling_weights(torch.tensor([0.0, 2.0, 6.0, 12.0]), 5.0, 6.0).tolist() == pytest.approx(
        [1.0, 1.5, 1.0, 0.0])
    # N_max below 1 is read as 1: a class seen once above a theta_max of 0.5 gets 1 - 1/1
    assert acfl_sampling_weights(torch.tensor([1.0, 0.0]), 0.5, 0.5).tolist() == pytest.approx([0.0, 1.0])
    # Eq. 5's inequalities include tau_k itself: a sample exactly at the quantile is kept either way
    p_t = torch.tensor([0.1, 0.2, 0.3])  # k = 0.5: tau = 0.2 exactly
    assert acfl_mask(p_t, 0.5).tolist() == [True, True, False]
    assert acfl_mask(p_t, 0.5, "printed").tolist() == [False, True, True]
