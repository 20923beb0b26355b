"""fit / evaluate for the recommenders. Works on CPU or CUDA."""
from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from tqdm import tqdm

from trainer.config import TrainConfig
from trainer.data import ItemCatalog, RecSample, SoftLabels
from trainer.distributed import World, unwrap
from trainer.evaluation import EvalRows, Report, exclude_items, protocol_report, topk_random_ties
from trainer.kg import EntityLinker
from trainer.losses import (
    ACFLParams,
    RarityFocalParams,
    acfl_loss,
    adaptive_sampling_weights,
    ce_plus_kl,
    class_frequency_weights,
    cross_entropy,
    focal_loss,
    kl_soft_labels,
    multilabel_soft_ce,
    prototype_compactness,
    rarity_focal_loss,
)
from trainer.metrics import recall_at_k
from trainer.tail_stage import TailStage, merge_reserved


@dataclass
class Features:
    text: Tensor            # [n, d] context embeddings (frozen encoder)
    contexts: list[tuple[int, ...]]
    targets: Tensor         # [n]
    soft: list[SoftLabels | None] = field(default_factory=list)  # multi-label soft targets (two-stage)
    texts: list[str] = field(default_factory=list)                # raw contexts, for a fine-tuned encoder
    conversations: list[int] = field(default_factory=list)        # conversation of each row (bootstrap unit)
    entities: list[tuple[int, ...]] = field(default_factory=list)  # genres / people the context names (KG)
    encoded: bool = False  # `text` already comes from the model's fine-tuned encoder (see encoded_text)

    def __len__(self) -> int:
        return len(self.contexts)


def make_features(samples: Sequence[RecSample], context_vectors: dict[str, np.ndarray],
                  soft: Sequence[SoftLabels | None] = (), linker: EntityLinker | None = None) -> Features:
    """`linker`: when the model reads the genres and people a context names."""
    text = torch.from_numpy(np.stack([context_vectors[s.context] for s in samples])) if samples else torch.zeros(0, 1)
    targets = torch.tensor([s.target for s in samples], dtype=torch.long)  # long even when empty
    entities = [linker.link(s.context) for s in samples] if linker is not None else []
    return Features(text.float(), [s.context_items for s in samples], targets, list(soft), [s.context for s in samples],
                    [s.conversation_id for s in samples], entities)


def live_encoder(model: nn.Module) -> nn.Module | None:
    """The model's text encoder while it is being fine-tuned (or was, in a saved model); None: frozen embeddings."""
    inner = unwrap(model)
    reads = getattr(inner, "reads_live_text", None)
    return inner.text_encoder if reads is not None and reads() else None


def batch_text(model: nn.Module, feats: Features, idx: Tensor | slice, device: torch.device) -> Tensor:
    """Context embeddings: through the fine-tuned encoder while it is live, else precomputed."""
    encoder = live_encoder(model)
    if encoder is None or feats.encoded:
        return feats.text[idx].to(device)
    rows = range(len(feats))[idx] if isinstance(idx, slice) else idx.tolist()
    return encoder([feats.texts[i] for i in rows])


@torch.no_grad()
def encoded_text(model: nn.Module, feats: Features, batch_size: int = 128) -> Features:
    """`feats` with every context embedded once by the model's live encoder (for ranking: one encoder pass serves
    both protocols); unchanged when the encoder is frozen."""
    encoder = live_encoder(model)
    if encoder is None or feats.encoded or not len(feats):
        return feats
    was_training = encoder.training
    encoder.eval()
    chunks = [encoder(feats.texts[start:start + batch_size]).float().cpu()
              for start in range(0, len(feats), batch_size)]
    encoder.train(was_training)
    return replace(feats, text=torch.cat(chunks), encoded=True)


def soft_matrix(rows: Sequence[SoftLabels], n_items: int, device: torch.device) -> Tensor:
    matrix = torch.zeros(len(rows), n_items, device=device)
    for row, labels in enumerate(rows):
        matrix[row, list(labels)] = torch.tensor(list(labels.values()), device=device)
    return matrix


def context_matrix(contexts: Sequence[tuple[int, ...]], n_items: int, device: torch.device,
                   entities: Sequence[tuple[int, ...]] = (), n_entities: int = 0) -> Tensor:
    """Row-normalised multi-hot of context items; with `n_entities`, a second block for the genres and people the
    context names (each block normalised on its own)."""
    matrix = torch.zeros(len(contexts), n_items + n_entities, device=device)
    for row, items in enumerate(contexts):
        if items:
            matrix[row, list(items)] = 1.0 / len(items)
        linked = entities[row] if n_entities and row < len(entities) else ()
        if linked:
            matrix[row, [n_items + e for e in linked]] = 1.0 / len(linked)
    return matrix


def batch_context(model: nn.Module, feats: Features, rows: Sequence[int], n_items: int, device: torch.device) -> Tensor:
    """The context input for `rows`: items, plus linked entities when the model reads them."""
    n_entities = int(getattr(unwrap(model), "n_context_entities", 0))
    linked = [feats.entities[i] for i in rows] if n_entities and feats.entities else ()
    return context_matrix([feats.contexts[i] for i in rows], n_items, device, linked, n_entities)


class LossFn:
    """The training loss named by `cfg.loss`; every name maps to exactly one function (an unknown one raises)."""

    def __init__(self, cfg: TrainConfig, train_counts: Tensor, device: torch.device) -> None:
        self.counts = train_counts.float().to(device)
        self.class_weights = class_frequency_weights(train_counts, beta=cfg.class_weight_beta).to(device)
        self.acfl = acfl_params(cfg)
        self.rarity = RarityFocalParams(gamma=cfg.gamma, alpha=cfg.alpha, topk_ratio=cfg.topk_ratio,
                                        easy_weight=cfg.easy_weight)
        losses = {
            "ce": cross_entropy,
            "focal": lambda logits, targets: focal_loss(logits, targets, gamma=cfg.gamma, alpha=cfg.alpha),
            "acfl": lambda logits, targets: acfl_loss(logits, targets, self.counts, self.acfl),
            "rarity_focal": lambda logits, targets: rarity_focal_loss(logits, targets, self.class_weights,
                                                                      self.rarity),
            "ce_kl": cross_entropy,  # its KL half needs the soft labels: batch_loss computes ce_plus_kl itself
        }
        self.loss = losses[cfg.loss]

    def __call__(self, logits: Tensor, targets: Tensor) -> Tensor:
        return self.loss(logits, targets)


def acfl_params(cfg: TrainConfig) -> ACFLParams:
    a = cfg.acfl
    return ACFLParams(gamma=cfg.gamma, alpha=cfg.alpha, k=cfg.topk_ratio, mask=a.mask, eps=a.eps,
                      alpha_min=a.alpha_min, alpha_max=a.alpha_max, gamma_min=a.gamma_min, gamma_max=a.gamma_max,
                      theta_min=a.theta_min, theta_max=a.theta_max, class_weight_power=a.class_weight_power)


def batch_order(n: int, sample_weights: Tensor | None, generator: torch.Generator) -> Tensor:
    if sample_weights is None:
        return torch.randperm(n, generator=generator)
    return torch.multinomial(sample_weights, n, replacement=True, generator=generator)


def autocast(device: torch.device, precision: str) -> Any:
    """bf16 / fp16 autocast where asked (fp16 only on CUDA); fp32 is a no-op."""
    if precision == "fp32" or (precision == "fp16" and device.type != "cuda"):
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def train_epoch(model: nn.Module, feats: Features, loss_fn: LossFn, optimizer: torch.optim.Optimizer,
                cfg: TrainConfig, n_items: int, device: torch.device, generator: torch.Generator,
                sample_weights: Tensor | None = None, progress: bool = True, world: World = World(),
                scaler: Any = None) -> float:
    """One pass over the global batch order; this rank trains on its shard of each batch (see trainer.distributed).
    With grad_accum_steps = k the optimizer steps every k batches on the mean of their gradients."""
    model.train()
    inner = unwrap(model)
    order = batch_order(len(feats), sample_weights, generator)
    total, batches = 0.0, 0
    steps = list(range(0, len(order), cfg.batch_size))
    optimizer.zero_grad()
    for step, start in enumerate(tqdm(steps, desc="train", unit="batch", leave=False, disable=not progress)):
        batch = order[start:start + cfg.batch_size]
        idx = world.shard(batch)
        text = batch_text(inner, feats, idx, device)
        ctx = batch_context(inner, feats, idx.tolist(), n_items, device)
        with autocast(device, cfg.precision):
            logits = model(text, ctx).float()
            loss = batch_loss(logits, feats, idx, loss_fn, cfg, device)
            if cfg.loss != "ce_kl" and cfg.prototype_weight and getattr(inner, "use_prototypes", False):
                loss = loss + cfg.prototype_weight * prototype_compactness(inner.encode_query(text, ctx), inner.prototypes)
        scaled = loss * world.loss_scale(len(idx), len(batch)) / cfg.grad_accum_steps
        (scaler.scale(scaled) if scaler is not None else scaled).backward()
        if (step + 1) % cfg.grad_accum_steps == 0 or step + 1 == len(steps):
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            optimizer.zero_grad()
        total, batches = total + float(loss.detach()), batches + 1
    return total / max(batches, 1)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; a fine-tuned text encoder gets its own (small) learning rate."""
    encoder = getattr(model, "text_encoder", None)
    encoder_ids = {id(p) for p in encoder.parameters()} if encoder is not None else set()
    groups = [{"params": [p for p in model.parameters() if id(p) not in encoder_ids], "lr": cfg.lr}]
    if encoder is not None:
        groups.append({"params": list(encoder.parameters()), "lr": cfg.encoder_lr})
    return torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)


def batch_loss(logits: Tensor, feats: Features, idx: Tensor, loss_fn: LossFn, cfg: TrainConfig,
               device: torch.device) -> Tensor:
    """The training loss of one batch (without the prototype term). `ce_kl` is Beyond Single Labels' stage 2 as
    written: exactly `ce_plus_kl` over the whole batch, each row's soft label its multi-label target or, where the
    scorer kept nothing, its gold item alone. Any other loss with two-stage data: that loss + alpha x KL over the
    rows with soft labels. The `mixed` strategy adds stage 1's soft cross-entropy on the synthetic rows."""
    targets = feats.targets[idx].to(device)
    if cfg.loss == "ce_kl":
        loss = ce_plus_kl(logits, targets, stage2_soft_targets(feats, idx, logits.shape[1], device),
                          cfg.two_stage.kl_alpha)
    else:
        loss = loss_fn(logits, targets)
        if cfg.two_stage.enabled and feats.soft:
            loss = loss + cfg.two_stage.kl_alpha * soft_label_term(logits, feats, idx, device, kl_soft_labels)
    if cfg.two_stage.enabled and cfg.two_stage.strategy == "mixed" and feats.soft:
        loss = loss + soft_label_term(logits, feats, idx, device, multilabel_soft_ce)
    return loss


def stage2_soft_targets(feats: Features, idx: Tensor, n_items: int, device: torch.device) -> Tensor:
    """[batch, items]: each row's soft multi-label (it holds the gold item), or one-hot on the gold item."""
    rows = idx.tolist()
    gold = F.one_hot(feats.targets[idx], n_items).float().to(device)
    soft = [feats.soft[i] if i < len(feats.soft) else None for i in rows]
    if not any(soft):
        return gold
    keep = [b for b, q in enumerate(soft) if q]
    gold[keep] = soft_matrix([q for q in soft if q], n_items, device)
    return gold


def soft_label_term(logits: Tensor, feats: Features, idx: Tensor, device: torch.device, loss: Any) -> Tensor:
    """`loss`(logits, q) over the batch rows that have soft labels (0 when none do)."""
    rows = [(b, feats.soft[i]) for b, i in enumerate(idx.tolist()) if feats.soft[i]]
    if not rows:
        return logits.new_zeros(())
    keep = torch.tensor([b for b, _ in rows], device=device)
    return loss(logits[keep], soft_matrix([q for _, q in rows if q], logits.shape[1], device))


def pretrain_multilabel(model: nn.Module, feats: Features, cfg: TrainConfig, n_items: int, device: torch.device,
                        progress: bool = True) -> list[float]:
    """Stage 1 (Beyond Single Labels): soft-label cross-entropy on the synthetic multi-label rows only."""
    rows = torch.tensor([i for i, q in enumerate(feats.soft) if q], dtype=torch.long)
    if len(rows) == 0:
        return []
    optimizer = make_optimizer(model, cfg)
    generator = torch.Generator().manual_seed(cfg.seed)
    losses = []
    for _ in tqdm(range(cfg.two_stage.pretrain_epochs), desc="pretrain", disable=not progress):
        model.train()
        order = rows[torch.randperm(len(rows), generator=generator)]
        total = 0.0
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            logits = model(batch_text(model, feats, idx, device),
                           batch_context(model, feats, idx.tolist(), n_items, device))
            loss = soft_label_term(logits, feats, idx, device, multilabel_soft_ce)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
        losses.append(total / max(1, math.ceil(len(order) / cfg.batch_size)))
    return losses


@torch.no_grad()
def rank_items(model: nn.Module, feats: Features, n_items: int, device: torch.device, k: int = 50, *,
               exclude_context: bool = False, seed: int = 0, batch_size: int = 512,
               stage: TailStage | None = None, train_counts: np.ndarray | None = None) -> np.ndarray:
    """Top-k over the whole catalog (optionally without each row's context items); ties in a seeded random order.
    `stage` (with the train counts): the tail-aware second stage's reserved slots (trainer.tail_stage)."""
    model.eval()
    feats = encoded_text(model, feats)
    permutation = torch.randperm(n_items, generator=torch.Generator().manual_seed(seed)).to(device)
    rare = None
    if stage is not None and stage.slots > 0:
        if train_counts is None:
            raise ValueError("a tail stage needs the train counts")
        rare = torch.from_numpy(stage.rare_items(train_counts)).to(device)
    out = []
    for start in range(0, len(feats), batch_size):
        window = slice(start, start + batch_size)
        contexts = feats.contexts[window]
        rows = range(len(feats))[window]
        scores = model(batch_text(model, feats, window, device), batch_context(model, feats, rows, n_items, device)).float()
        if exclude_context:
            scores = exclude_items(scores, contexts)
        top = topk_random_ties(scores, k, permutation).cpu()
        if rare is not None and stage is not None:
            width = min(stage.k, int(rare.sum()))
            rare_top = topk_random_ties(scores.masked_fill(~rare, -torch.inf), width, permutation).cpu()
            top = torch.from_numpy(merge_reserved(top.numpy(), rare_top.numpy(), stage))
        out.append(top)
    return torch.cat(out).numpy() if out else np.zeros((0, k), dtype=np.int64)


def evaluate_model(model: nn.Module, feats: Features, catalog: ItemCatalog, train_counts: np.ndarray,
                   item_embeddings: np.ndarray, device: torch.device, ks: Sequence[int], *,
                   n_boot: int = 1000, seed: int = 0, stage: TailStage | None = None) -> Report:
    """Both protocols (trainer.evaluation): standard names as they were, novel ones prefixed `novel_`."""
    rows = EvalRows(feats.targets.numpy(), feats.contexts, np.asarray(feats.conversations, dtype=np.int64))
    feats = encoded_text(model, feats)  # once for both protocols
    report: Report = {"catalog_size": float(len(catalog))}
    everything = np.ones(len(rows.targets), dtype=bool)
    for prefix, exclude, keep in (("", False, everything), ("novel_", True, rows.novel())):
        ranked = rank_items(model, feats, len(catalog), device, k=max(ks), exclude_context=exclude, seed=seed,
                            stage=stage, train_counts=train_counts)
        part = protocol_report(ranked, rows, keep, catalog.tier_masks(), train_counts.astype(np.float64),
                               item_embeddings, ks, n_boot, seed)
        report.update({f"{prefix}{name}": value for name, value in part.items()})
    return report


@contextmanager
def as_evaluated(model: nn.Module, train_counts: Tensor, impute_cold_items: bool) -> Iterator[None]:
    """Score with cold items imputed, as the final evaluation will, then restore the trained values."""
    if not impute_cold_items or not hasattr(model, "impute_cold_items"):
        yield
        return
    saved = {k: v.detach().clone() for k, v in model.state_dict().items() if k in ("item_bias", "item_free.weight")}
    model.impute_cold_items(train_counts)
    try:
        yield
    finally:
        model.load_state_dict(saved, strict=False)


@dataclass
class FitState:
    """Everything an interrupted fit needs to go on exactly where it stopped (saved after every epoch)."""

    epoch: int = 0
    best: float = -math.inf
    stale: int = 0
    best_state: dict[str, Tensor] | None = None
    history: list[dict[str, float]] = field(default_factory=list)

    def encoder_epochs(self) -> int:
        return sum(1 for h in self.history if h.get("encoder_tuned"))


@dataclass
class Trainer:
    """What every epoch of `fit` shares."""

    model: nn.Module
    train: Features
    valid: Features
    cfg: TrainConfig
    counts: Tensor
    device: torch.device
    progress: bool
    world: World
    checkpoint: Path | None
    loss_fn: LossFn
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    scaler: Any
    weights: Tensor | None

    def epoch(self, state: FitState, encoder: bool) -> None:
        """Train one epoch, score it on validation, keep the best weights, save the state."""
        inner, n_items = unwrap(self.model), len(self.counts)
        started = time.perf_counter()
        loss = train_epoch(self.model, self.train, self.loss_fn, self.optimizer, self.cfg, n_items, self.device,
                           self.generator, self.weights, self.progress, self.world, self.scaler)
        seconds = time.perf_counter() - started
        with as_evaluated(inner, self.counts.to(self.device), self.cfg.impute_cold_items):  # as evaluated later
            ranked = rank_items(inner, self.valid, n_items, self.device, k=10, seed=self.cfg.seed)
        score = recall_at_k(ranked, self.valid.targets.numpy(), 10) if len(self.valid) else -loss
        state.epoch += 1
        state.history.append({"epoch": state.epoch, "loss": loss, "valid_recall@10": score, "seconds": seconds,
                              "samples_per_second": len(self.train) / seconds, "encoder_tuned": float(encoder)})
        if self.progress:
            tqdm.write(f"epoch {state.epoch}{' (encoder tuned)' if encoder else ''}: loss {loss:.4f} "
                       f"valid R@10 {score:.4f}", file=sys.stderr)  # stdout may be --json
        if score > state.best:
            state.best, state.stale = score, 0
            state.best_state = {k: v.detach().clone() for k, v in inner.state_dict().items()}
        else:
            state.stale += 1
        self.save(state)

    def save(self, state: FitState) -> None:
        if self.checkpoint is not None and self.world.main:
            save_fit_state(self.checkpoint, state, unwrap(self.model), self.optimizer, self.generator, self.cfg)


def fit(model: nn.Module, train: Features, valid: Features, cfg: TrainConfig, train_counts: np.ndarray,
        device: torch.device, progress: bool = True, *, world: World = World(),
        checkpoint: Path | None = None) -> list[dict[str, float]]:
    """AdamW + early stopping on valid Recall@10; restores the best weights. With a text encoder to fine-tune, the
    head first trains on the frozen embeddings (up to `epochs`, early stopping), then from its best weights the
    encoder trains with it for up to `finetune_epochs`, the same early stopping going on: the frozen head stays the
    result unless tuning wins on validation. With `checkpoint`, the state after every epoch (model, optimizer, RNGs,
    early-stopping bookkeeping) is saved there by rank 0, and a run that finds one resumes from it."""
    inner = unwrap(model)
    counts = torch.from_numpy(train_counts)
    optimizer = make_optimizer(inner, cfg)
    generator = torch.Generator().manual_seed(cfg.seed)
    trainer = Trainer(model, train, valid, cfg, counts, device, progress, world, checkpoint,
                      LossFn(cfg, counts, device), optimizer, generator,
                      torch.amp.GradScaler("cuda") if cfg.precision == "fp16" and device.type == "cuda" else None,
                      adaptive_sampling_weights(counts, train.targets, cfg.sampling_tau) if cfg.sampling_tau else None)
    state = load_fit_state(checkpoint, inner, optimizer, generator, device, cfg)
    tuning = live_encoder(inner) is not None  # a resumed run whose head phase is over (the flag is saved)
    while not tuning and state.epoch < cfg.epochs and state.stale < cfg.patience:
        trainer.epoch(state, encoder=False)
    tunable = getattr(inner, "text_encoder", None) is not None
    if tunable and not tuning:
        if state.best_state is not None:
            inner.load_state_dict(state.best_state)  # tune from the best head
        inner.live_text.fill_(True)
        state.stale = 0
        trainer.save(state)
    while tunable and state.encoder_epochs() < cfg.finetune_epochs and state.stale < cfg.patience:
        trainer.epoch(state, encoder=True)
    if state.best_state is not None:
        inner.load_state_dict(state.best_state)
    return state.history


# a resumed run may stop earlier or later than planned; anything else changed mid-run would train a model no config
# describes
SCHEDULE_FIELDS = frozenset({"epochs", "finetune_epochs", "patience"})


def save_fit_state(path: Path, state: FitState, model: nn.Module, optimizer: torch.optim.Optimizer,
                   generator: torch.Generator, cfg: TrainConfig) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".tmp")
    torch.save({"state": state.__dict__, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                "config": json.loads(cfg.model_dump_json())}, staging)
    staging.replace(path)  # a kill mid-write never leaves a torn checkpoint


def changed_fields(saved: dict[str, Any], cfg: TrainConfig) -> list[str]:
    """`field: saved -> now` for every config field a resume may not change (name and schedule excepted)."""
    now = json.loads(cfg.model_dump_json())
    return [f"{key}: {saved.get(key)!r} -> {now[key]!r}" for key in now
            if key not in SCHEDULE_FIELDS | {"name"} and saved.get(key) != now[key]]


def load_fit_state(path: Path | None, model: nn.Module, optimizer: torch.optim.Optimizer,
                   generator: torch.Generator, device: torch.device, cfg: TrainConfig) -> FitState:
    if path is None or not path.exists():
        return FitState()
    saved = torch.load(path, map_location=device, weights_only=False)
    changed = changed_fields(saved["config"], cfg) if "config" in saved else []
    if changed:
        raise ValueError(f"{path}: was trained under another config ({'; '.join(changed)}); only "
                         f"{', '.join(sorted(SCHEDULE_FIELDS))} may change on --resume: train again without it")
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    generator.set_state(saved["generator"])
    torch.set_rng_state(saved["torch_rng"])
    state = FitState(**saved["state"])
    print(f"resuming from {path} after epoch {state.epoch}", file=sys.stderr, flush=True)
    return state
