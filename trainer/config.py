"""Training configuration: a frozen pydantic model read from YAML."""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from db.config_files import read_config
from lm.language_model import FineTuneConfig


class TwoStageConfig(BaseModel):
    """Beyond Single Labels: pretrain on synthetic multi-label data, then fine-tune with CE + alpha * KL.
    `strategy`: `two_stage` (the paper: stage 1, then stage 2) or `mixed` (the paper's "mixed data" comparison, our
    reading: no stage 1; every batch adds stage 1's soft cross-entropy on its synthetic rows to stage 2's loss)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    enabled: bool = False
    strategy: Literal["two_stage", "mixed"] = "two_stage"
    pretrain_epochs: int = 3
    kl_alpha: float = 0.5
    min_relevance: float = 3.5
    scorer: str | None = None  # whose relevance labels (`augment multilabel --scorer`); None: every scorer's


class TailStageConfig(BaseModel):
    """The tail-aware second stage (trainer.tail_stage): reserved slots in the top 10 for rare movies, the number of
    slots and what counts as rare chosen on validation only, within `max_recall_drop` of the first stage's R@10."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    enabled: bool = False
    slots: tuple[int, ...] = (1, 2, 3, 4, 5)
    max_counts: tuple[int, ...] = (0, 1)
    max_recall_drop: float = Field(default=0.005, ge=0.0)


class ACFLConfig(BaseModel):
    """The parts of the paper's ACFL (trainer.losses) that the paper does not fix: clip ranges, eps, Eq. 6's
    thresholds and Eq. 5's direction (hardest = p_i <= tau_k, the paper's text and released code; printed =
    p_i >= tau_k). gamma, alpha and k (`topk_ratio`) are TrainConfig fields, shared with the focal losses."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    mask: Literal["hardest", "printed"] = "hardest"
    eps: float = Field(default=1e-6, gt=0.0)
    alpha_min: float = 0.1
    alpha_max: float = 1.0
    gamma_min: float = 0.5
    gamma_max: float = 5.0
    theta_min: float = 2.0  # N_c below: oversampled (1 + 1/N_c)
    theta_max: float = 5.0  # N_c above: undersampled (1 - N_c/N_max)
    class_weight_power: float = Field(default=1.0, ge=0.0)  # w_c = (N_c + eps) ** -power; 1.0 is Eq. 2 as written


class TrainConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    dataset: str = "redial"
    model: Literal["popularity", "lumicrs"] = "lumicrs"
    encoder_path: str | None = Field(default=None, description="local sentence-transformer; default packaged MiniLM")
    # the context encoder (MiniLM) trained with the recommender: after the head's epochs on frozen embeddings, up to
    # finetune_epochs more with the encoder at encoder_lr (kept only if validation R@10 improves)
    finetune_encoder: bool = False
    finetune_epochs: int = Field(default=2, ge=0)
    encoder_lr: float = 2e-5
    train_splits: tuple[str, ...] = ("train",)
    test_splits: tuple[str, ...] = ("test",)
    train_fraction: float = Field(default=1.0, gt=0.0, le=1.0)  # a seeded share of train conversations (learning curves)
    valid_fraction: float = 0.1
    valid_splits: tuple[str, ...] = ()  # the dataset's own validation split (INSPIRED: dev); else valid_fraction
    augmented_exports: tuple[Path, ...] = ()
    # LumiCRS's augmentation ratio rho (best 0.3): at most rho x the original training dialogues are taken from the
    # exports (a seeded sample); None takes every approved dialogue
    augment_ratio: float | None = Field(default=None, gt=0.0)
    # LumiCRS's S_1 (Sec. 4.2.2): the union of the body/tail prototypes' support sets, "the training subset for
    # long-tail enhancement"; its training samples are seen 1 + support_set_repeat times per epoch (0: not used)
    support_set_repeat: int = Field(default=0, ge=0)
    max_context_turns: int = 8
    seeker_targets: bool = False  # training rows also predict the movies seekers name (evaluation never does)
    repeat_gate: bool = False  # a learned, context-dependent bonus for movies already named (RepeatNet's repeat mode)
    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-5
    hidden_dim: int = 512
    item_dim: int = 256
    dropout: float = 0.2
    # ce_kl: Beyond Single Labels' stage 2 exactly (CE + two_stage.kl_alpha x KL, nothing else: no prototype term);
    # any other loss with two_stage.enabled trains as that loss + kl_alpha x KL (+ the prototype term), e.g. ACFL + KL
    loss: Literal["ce", "focal", "acfl", "rarity_focal", "ce_kl"] = "acfl"
    gamma: float = 2.5
    alpha: float = 0.6
    topk_ratio: float = Field(default=0.25, gt=0.0, le=1.0)  # ACFL's k (Eq. 5); rarity_focal's hard share
    acfl: ACFLConfig = ACFLConfig()
    easy_weight: float = 0.3  # rarity_focal only
    class_weight_beta: float = 0.5  # rarity_focal only
    sampling_tau: float = 0.0
    n_prototypes: int = 50
    prototype_init: Literal["kmeans", "random"] = "kmeans"  # the paper's ablations: KMeans or random initialisation
    freeze_prototypes: bool = False  # True: prototypes stay as initialised (the paper's "frozen" ablation rows)
    kg: bool = False  # item knowledge graph (R-GCN over db kg_facts: genre, star, director, writer)
    kg_dim: int = Field(default=128, ge=1)
    kg_link_entities: bool = True  # with kg: genres and people named in the context feed the query
    text_prior: float = 0.0
    impute_cold_items: bool = True
    prototype_weight: float = 0.01
    patience: int = 3
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # autocast for the forward pass (fp16 only on CUDA)
    grad_accum_steps: int = Field(default=1, ge=1)  # optimizer step every k batches (effective batch k x batch_size)
    eval_ks: tuple[int, ...] = (1, 10, 50)
    bootstrap: int = 1000  # conversation resamples for the 95% intervals
    seed: int = 42
    device: str = "auto"
    output_dir: Path = Path("runs")
    two_stage: TwoStageConfig = TwoStageConfig()
    tail_stage: TailStageConfig = TailStageConfig()

    @model_validator(mode="after")
    def _ce_kl_needs_soft_labels(self) -> TrainConfig:
        if self.loss == "ce_kl" and not self.two_stage.enabled:
            raise ValueError("loss ce_kl is Beyond Single Labels' fine-tuning loss: set two_stage.enabled: true")
        return self


class ResponderConfig(FineTuneConfig):
    """The conversation module: a causal LM fine-tuned with LoRA on recommender turns given the context and the
    recommended movie (title + a short plot)."""

    valid_fraction: float = Field(default=0.05, ge=0.0, lt=1.0)  # held-out train conversations for the valid loss
    max_context_turns: int = Field(default=4, ge=1)
    max_length: int = Field(default=192, ge=16)  # prompt + response tokens; the oldest context is cut first
    plot_words: int = Field(default=30, ge=0)
    steps: int = Field(default=200, ge=0)  # 0: the base model as it is (no fine-tuning)
    batch_size: int = Field(default=4, ge=1)
    lr: float = 2e-4
    valid_batches: int = Field(default=8, ge=0)
    max_new_tokens: int = Field(default=40, ge=1)
    output_dir: Path = Path("runs")


def load_config(path: Path) -> TrainConfig:
    """A recommender config; errors name the file (and the field)."""
    return read_config(path, TrainConfig)


def with_changes(cfg: TrainConfig, change: Mapping[str, Any]) -> TrainConfig:
    """`cfg` with each field of `change` set, validated; a nested config (`acfl`, `tail_stage`, ...) keeps the keys
    the change does not name."""
    values = json.loads(cfg.model_dump_json())
    for key, value in change.items():
        values[key] = {**values[key], **value} if isinstance(value, dict) else value
    return TrainConfig.model_validate(values)


# ACFL exactly as the paper writes it (Eq. 2's 1/N_c, k = 25% hardest, Eq. 6's thresholds), whatever ACFL settings the
# config it changes carries: the ablation's row and the sweep's starting point.
ACFL_AS_WRITTEN: dict[str, Any] = {"loss": "acfl", "acfl": ACFLConfig().model_dump(), "topk_ratio": 0.25}


