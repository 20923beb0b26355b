"""Training configuration: a frozen pydantic model read from YAML."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class TwoStageConfig(BaseModel):
    """Beyond Single Labels: pretrain on synthetic multi-label data, then fine-tune with CE + alpha * KL."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    enabled: bool = False
    pretrain_epochs: int = 3
    kl_alpha: float = 0.5
    min_relevance: float = 3.5


class TrainConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    dataset: str = "redial"
    model: Literal["popularity", "lumicrs"] = "lumicrs"
    encoder_path: str | None = Field(default=None, description="local sentence-transformer; default packaged MiniLM")
    finetune_encoder: bool = False
    encoder_lr: float = 2e-5
    train_splits: tuple[str, ...] = ("train",)
    test_splits: tuple[str, ...] = ("test",)
    train_fraction: float = Field(default=1.0, gt=0.0, le=1.0)  # a seeded share of train conversations (learning curves)
    valid_fraction: float = 0.1
    valid_splits: tuple[str, ...] = ()  # the dataset's own validation split (INSPIRED: dev); else valid_fraction
    augmented_exports: tuple[Path, ...] = ()
    max_context_turns: int = 8
    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-5
    hidden_dim: int = 512
    item_dim: int = 256
    dropout: float = 0.2
    loss: Literal["ce", "focal", "acfl"] = "acfl"
    gamma: float = 2.5
    alpha: float = 0.6
    topk_ratio: float = 0.25
    easy_weight: float = 0.3
    class_weight_beta: float = 0.5
    sampling_tau: float = 0.0
    n_prototypes: int = 50
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


def load_config(path: Path) -> TrainConfig:
    """Read YAML; errors name the file (and the field)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ValueError(f"{path}{line}: invalid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    raw.setdefault("name", path.stem)
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{path}: {problems}") from exc
