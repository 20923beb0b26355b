"""run(cfg): seed -> data -> model -> fit -> evaluate -> save (checkpoint + DB)."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from torch import nn

from db.engine import write_transaction
from db.export_files import verify_export
from db.models import TrainingRun
from db.queries.runs import (
    RESPONDER_MODEL,
    create_run,
    finish_run,
    get_run_or_raise,
    link_run_exports,
    record_metrics,
    run_metrics,
)
from lm.embeddings import cache_embeddings, default_encoder_path, encode_texts, uncached_texts
from trainer.config import TrainConfig
from trainer.data import RecData, load_rec_data
from trainer.distributed import World, barrier, gather_objects, resolve_device, setup, teardown, wrap
from trainer.evaluation import Report
from trainer.kg import EntityLinker, RGCNItemEncoder
from trainer.loop import (
    Features,
    batch_context,
    batch_text,
    encoded_text,
    evaluate_model,
    fit,
    make_features,
    pretrain_multilabel,
    rank_items,
)
from trainer.model import LumiCRSRecommender, PopularityModel, TrainableTextEncoder
from trainer.tail_stage import Option, TailStage, choose_stage


@dataclass
class RunResult:
    run_id: int
    name: str
    device: str
    metrics: dict[str, Report]
    history: list[dict[str, float]] = field(default_factory=list)
    checkpoint: str | None = None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_data(session_factory: sessionmaker[Session], cfg: TrainConfig) -> RecData:
    with session_factory() as session:
        return load_rec_data(session, cfg.dataset, cfg.train_splits, cfg.test_splits,
                             valid_fraction=cfg.valid_fraction, valid_splits=cfg.valid_splits,
                             train_fraction=cfg.train_fraction,
                             exports=cfg.augmented_exports, augment_ratio=cfg.augment_ratio,
                             support_set_repeat=cfg.support_set_repeat, seeker_targets=cfg.seeker_targets,
                             max_turns=cfg.max_context_turns, seed=cfg.seed,
                             min_relevance=cfg.two_stage.min_relevance if cfg.two_stage.enabled else None,
                             relevance_scorer=cfg.two_stage.scorer,
                             with_kg=cfg.kg and cfg.model == "lumicrs")


def encode_shared(texts: list[str], cfg: TrainConfig, world: World, progress: bool) -> np.ndarray:
    """Embeddings through the content-hash cache; under torchrun each rank encodes its shard of what the cache
    lacks, rank 0 stores them all, then every rank reads the cache."""
    if world.distributed:
        todo = uncached_texts(texts, cfg.encoder_path)
        mine = todo[world.rank::world.size]
        vectors = encode_texts(mine, cfg.encoder_path, cache_dir=None, progress=progress and world.main)
        shards = gather_objects((mine, vectors), world)
        if world.main:  # one write of the cache with every rank's vectors
            cache_embeddings([t for texts_, _ in shards for t in texts_],
                             np.concatenate([v for _, v in shards]), cfg.encoder_path)
        barrier(world)
    return encode_texts(texts, cfg.encoder_path, progress=progress and world.main)


def embed(data: RecData, cfg: TrainConfig, progress: bool,
          world: World = World()) -> tuple[dict[str, np.ndarray], np.ndarray]:
    items = encode_shared(data.catalog.texts, cfg, world, progress)
    contexts = sorted({s.context for split in (data.train, data.valid, data.test) for s in split})
    if cfg.model == "popularity" or not contexts:  # context-free: a placeholder vector per context
        return {c: np.zeros(1, dtype=np.float32) for c in contexts}, items
    return dict(zip(contexts, encode_shared(contexts, cfg, world, progress))), items


def build_model(cfg: TrainConfig, data: RecData, item_emb: np.ndarray, text_dim: int) -> nn.Module:
    if cfg.model == "popularity":
        return PopularityModel(torch.from_numpy(data.train_counts()))
    # loading the encoder draws no random numbers: the head starts as a frozen-encoder run's does (a slow test pins it)
    encoder = TrainableTextEncoder(cfg.encoder_path or default_encoder_path()) if cfg.finetune_encoder else None
    if cfg.kg and (data.graph is None or not data.graph.edges):
        raise ValueError(f"config asks for the knowledge graph (kg: true) but the database has no kg_facts for "
                         f"{cfg.dataset!r}: run `lumicrs ingest {cfg.dataset}` with the data folder's metadata/")
    kg = RGCNItemEncoder(data.graph, cfg.kg_dim) if cfg.kg and data.graph is not None else None
    return LumiCRSRecommender(text_dim, torch.from_numpy(item_emb), hidden_dim=cfg.hidden_dim,
                              item_dim=cfg.item_dim, n_prototypes=cfg.n_prototypes, dropout=cfg.dropout,
                              text_prior=cfg.text_prior, text_encoder=encoder, kg=kg,
                              link_entities=cfg.kg_link_entities, repeat_gate=cfg.repeat_gate)


def entity_linker(cfg: TrainConfig, data: RecData) -> EntityLinker | None:
    return EntityLinker(data.graph) if cfg.kg and cfg.kg_link_entities and data.graph is not None else None


def features(data: RecData, vectors: dict[str, np.ndarray], cfg: TrainConfig) -> tuple[Features, Features, Features]:
    linker = entity_linker(cfg, data)
    return (make_features(data.train, vectors, data.train_soft, linker), make_features(data.valid, vectors, linker=linker),
            make_features(data.test, vectors, linker=linker))


def train_model(model: nn.Module, cfg: TrainConfig, data: RecData, feats: tuple[Features, ...],
                device: torch.device, progress: bool, world: World = World(),
                checkpoint: Path | None = None) -> list[dict[str, float]]:
    if not isinstance(model, LumiCRSRecommender):
        return []
    train, valid, _ = feats
    model.to(device)
    if cfg.prototype_init == "kmeans":
        with torch.no_grad():
            model.eval()
            sample = batch_text(model, train, slice(0, 4096), device)
            ctx = batch_context(model, train, list(range(min(len(train), 4096))), len(data.catalog), device)
            model.init_prototypes_kmeans(model.encode_query(sample, ctx).cpu(), seed=cfg.seed)
    model.prototypes.requires_grad_(not cfg.freeze_prototypes)
    history: list[dict[str, float]] = []
    if cfg.two_stage.enabled and cfg.two_stage.strategy == "two_stage":
        pre = pretrain_multilabel(model, train, cfg, len(data.catalog), device, progress)
        history += [{"pretrain_epoch": i + 1, "loss": loss} for i, loss in enumerate(pre)]
    history += fit(wrap(model, world, device), train, valid, cfg, data.train_counts(), device,
                   progress and world.main, world=world, checkpoint=checkpoint)
    if cfg.impute_cold_items:
        model.impute_cold_items(torch.from_numpy(data.train_counts()).to(device))
    return history


def choose_tail_stage(model: nn.Module, cfg: TrainConfig, data: RecData, valid: Features,
                      device: torch.device) -> TailStage | None:
    """The tail-aware second stage validation picks (trainer.tail_stage); None when the config has none."""
    return tail_stage_options(model, cfg, data, valid, device)[0] if cfg.tail_stage.enabled else None


def tail_stage_options(model: nn.Module, cfg: TrainConfig, data: RecData, valid: Features,
                       device: torch.device) -> tuple[TailStage, list[Option]]:
    """Every option of the config's `tail_stage` read on the validation rows (the only rows given), and the pick."""
    valid = encoded_text(model, valid)  # once for every option
    counts = data.train_counts()

    def rank(stage: TailStage) -> np.ndarray:
        return rank_items(model, valid, len(data.catalog), device, k=stage.k, seed=cfg.seed, stage=stage,
                          train_counts=counts)

    rare_in_train = counts <= 1  # the tail the rule reads: from the train split alone, never the test split's
    return choose_stage(rank, valid.targets.numpy(), rare_in_train, cfg.tail_stage.slots, cfg.tail_stage.max_counts,
                        cfg.tail_stage.max_recall_drop)


def stored_tail_stage(session_factory: sessionmaker[Session], run_id: int) -> TailStage:
    """The second stage a finished run chose on validation (the first stage alone when it has none)."""
    with session_factory() as session:
        return TailStage.from_metrics(run_metrics(session, run_id, "valid").get("valid", {}))


def save_checkpoint(model: nn.Module, cfg: TrainConfig, data: RecData) -> Path:
    out = cfg.output_dir / cfg.name
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / "model.pt")
    (out / "config.json").write_text(cfg.model_dump_json(indent=2))
    (out / "items.json").write_text(json.dumps(data.catalog.movie_ids))
    return out / "model.pt"


def fit_checkpoint(cfg: TrainConfig) -> Path:
    return cfg.output_dir / cfg.name / "last.pt"


def run(cfg: TrainConfig, session_factory: sessionmaker[Session], progress: bool = True,
        force: bool = False, resume: bool = False, replace: bool = False) -> RunResult:
    """Train, evaluate, store (`force`, `replace`: see db.queries.runs.create_run). Under torchrun every rank
    trains its shard; rank 0 alone writes the database and the checkpoints and evaluates. `resume` continues a
    killed run from its last epoch checkpoint."""
    world, device = setup(cfg.device)
    seed_everything(cfg.seed)
    exports = [verify_export(path) for path in cfg.augmented_exports]  # refuse a changed file before any work
    checkpoint = fit_checkpoint(cfg)
    if world.main and not resume:
        checkpoint.unlink(missing_ok=True)
    data = load_data(session_factory, cfg)
    run_id = -1
    if world.main:
        with write_transaction(session_factory) as session:
            run_id = create_run(session, cfg.name, cfg.model, json.loads(cfg.model_dump_json()),
                                f"{device}{f' x{world.size}' if world.distributed else ''}", force or resume, replace).id
            link_run_exports(session, run_id, exports)
    barrier(world)
    try:
        vectors, item_emb = embed(data, cfg, progress, world)
        feats = features(data, vectors, cfg)
        model = build_model(cfg, data, item_emb, item_emb.shape[1]).to(device)
        history = train_model(model, cfg, data, feats, device, progress, world, checkpoint)
        metrics: dict[str, Report] = {}
        saved: Path | None = None
        if world.main:
            stage = choose_tail_stage(model, cfg, data, feats[1], device)  # validation only
            metrics = {split: evaluate_model(model, f, data.catalog, data.train_counts(), item_emb, device,
                                             cfg.eval_ks, n_boot=cfg.bootstrap, seed=cfg.seed, stage=stage)
                       for split, f in (("valid", feats[1]), ("test", feats[2]))}
            if stage is not None:
                metrics["valid"].update(stage.as_metrics())
            saved = save_checkpoint(model, cfg, data)
    except BaseException:
        if world.main:
            with write_transaction(session_factory) as session:
                finish_run(session, run_id, "failed")
        teardown(world)
        raise
    if world.main:
        with write_transaction(session_factory) as session:
            for split, values in metrics.items():
                record_metrics(session, run_id, split, values)
            finish_run(session, run_id, "finished", str(saved))
        checkpoint.unlink(missing_ok=True)
    barrier(world)
    teardown(world)
    return RunResult(run_id, cfg.name, str(device), metrics, history, str(saved) if saved else None)


def load_trained(name: str, session_factory: sessionmaker[Session],
                 progress: bool = False) -> tuple[int, TrainConfig, RecData, nn.Module, np.ndarray, dict[str, np.ndarray]]:
    """A finished recommender run's checkpoint with its data: (run id, config, data, model, item and context vectors)."""
    with session_factory() as session:
        stored = get_run_or_raise(session, name)
        if stored.model == RESPONDER_MODEL:
            raise ValueError(f"run {name!r} is a response generator, not a recommender")
        cfg = TrainConfig.model_validate(stored.config)
        checkpoint, run_id = stored.checkpoint_path, stored.id
    if not checkpoint or not Path(checkpoint).exists():
        raise FileNotFoundError(f"run {name!r} has no checkpoint on disk ({checkpoint})")
    device = resolve_device(cfg.device)
    data = load_data(session_factory, cfg)
    vectors, item_emb = embed(data, cfg, progress)
    model = build_model(cfg, data, item_emb, item_emb.shape[1])
    model.load_state_dict(torch.load(checkpoint, map_location=device))
    return run_id, cfg, data, model.to(device), item_emb, vectors


def evaluate_run(name: str, session_factory: sessionmaker[Session], progress: bool = False) -> Report:
    """Reload a finished run's checkpoint, evaluate on its test splits, store the metrics again."""
    metrics = read_test_figures(name, session_factory, first_stage=False, progress=progress)
    with write_transaction(session_factory) as session:
        record_metrics(session, get_run_or_raise(session, name).id, "test", metrics)
    return metrics


def read_test_figures(name: str, session_factory: sessionmaker[Session], first_stage: bool,
                      progress: bool = False) -> Report:
    """A finished run's test figures read from its checkpoint, stored nowhere: as it ranks (with the second stage
    validation chose), or with `first_stage` the trained model's own ranking alone."""
    run_id, cfg, data, model, item_emb, vectors = load_trained(name, session_factory, progress)
    test = make_features(data.test, vectors, linker=entity_linker(cfg, data))
    return evaluate_model(model, test, data.catalog, data.train_counts(), item_emb, resolve_device(cfg.device),
                          cfg.eval_ks, n_boot=cfg.bootstrap, seed=cfg.seed,
                          stage=None if first_stage else stored_tail_stage(session_factory, run_id))


def top_items_for_turns(name: str, session_factory: sessionmaker[Session], dataset: str,
                        split: str) -> dict[tuple[int, int], int]:
    """The recommender's top movie id for each test turn it ranks: (conversation id, merged turn index) -> movie."""
    run_id, cfg, data, model, _, vectors = load_trained(name, session_factory)
    if cfg.dataset != dataset or split not in cfg.test_splits:
        raise ValueError(f"recommender {name!r} ranks {cfg.dataset} {list(cfg.test_splits)}, not {dataset} {split!r}")
    test = make_features(data.test, vectors, linker=entity_linker(cfg, data))
    stage = stored_tail_stage(session_factory, run_id)
    top = rank_items(model, test, len(data.catalog), resolve_device(cfg.device), k=stage.k if stage.slots else 1,
                     seed=cfg.seed, stage=stage, train_counts=data.train_counts())[:, :1]
    return {(s.conversation_id, s.turn_position): data.catalog.movie_ids[int(row[0])] for s, row in zip(data.test, top)}


def finished_run_name(factory: sessionmaker[Session], cfg: TrainConfig, same_name: bool = False) -> str | None:
    """The name of the latest finished run of exactly this config, whatever its name (the ablation's full-model row is
    the learning curve's seed-42 100% point), or only under `cfg.name` with `same_name`; None: train it. Used by the
    benchmarks to read back runs instead of training them again."""
    wanted = cfg if same_name else cfg.model_copy(update={"name": ""})
    query = select(TrainingRun).where(TrainingRun.status == "finished", TrainingRun.model == cfg.model)
    with factory() as session:
        for stored in session.scalars(query.order_by(TrainingRun.id.desc())):
            try:  # a run stored before a field existed has that field's default (its behaviour then)
                if TrainConfig.model_validate({**stored.config, "name": stored.name if same_name else ""}) == wanted:
                    return stored.name
            except ValidationError:
                continue
    return None


def finished_test_metrics(factory: sessionmaker[Session], cfg: TrainConfig) -> dict[str, float] | None:
    """The stored test metrics of the latest finished run of exactly this config, whatever its name; None: train it."""
    name = finished_run_name(factory, cfg)
    return (stored_split_metrics(factory, name, "test") or None) if name is not None else None


def stored_split_metrics(factory: sessionmaker[Session], name: str, split: str) -> dict[str, float]:
    """The metrics a run stored for one split ("valid" holds the second stage's choice, `tail_stage_slots`)."""
    with factory() as session:
        return run_metrics(session, get_run_or_raise(session, name).id, split).get(split, {})
