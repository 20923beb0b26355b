"""benchmarks/learning_curve.py's bookkeeping: a point's interval holds seed variance, the 100% runs are the seed
spread's runs (same names and configs), and only a finished run of exactly the same config is read back."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from db.engine import write_transaction
from db.queries.runs import create_run, finish_run, record_metrics
from trainer.config import load_config
from trainer.run import finished_test_metrics

REPO = Path(__file__).resolve().parents[2]


def load(name: str) -> ModuleType:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(REPO / "benchmarks"))


def test_a_points_error_adds_the_seed_variance_to_the_test_bootstraps() -> None:
    curve = load("learning_curve")
    runs = [{"recall@10": 0.20, "recall@10_lo": 0.18, "recall@10_hi": 0.22},
            {"recall@10": 0.24, "recall@10_lo": 0.21, "recall@10_hi": 0.27}]
    mean, se = curve.combine(runs, "recall@10")
    boot = ((0.04 / 3.92) ** 2 + (0.06 / 3.92) ** 2) / 2
    assert mean == pytest.approx(0.22) and se == pytest.approx(np.sqrt(boot + 0.0008))
    assert curve.combine(runs[:1], "recall@10")[1] == pytest.approx(0.04 / 3.92)  # one seed: the bootstrap's alone


def test_the_full_data_runs_are_the_seed_spreads_runs() -> None:
    curve, spread = load("learning_curve"), load("recommendation")
    base = load_config(REPO / "configs" / "redial_acfl.yaml")
    assert curve.curve_config(base, 1.0, 7) == spread.seed_configs("redial", [7], None)[0]
    quarter = curve.curve_config(base, 0.25, 7)
    assert (quarter.name, quarter.train_fraction, quarter.seed) == (f"{base.name}-lc25-seed-7", 0.25, 7)


def test_only_a_finished_run_of_the_same_config_is_read_back(session_factory: sessionmaker[Session]) -> None:
    cfg = load("learning_curve").curve_config(load_config(REPO / "configs" / "redial_acfl.yaml"), 0.5, 3)
    assert finished_test_metrics(session_factory, cfg) is None
    with write_transaction(session_factory) as session:
        run_id = create_run(session, cfg.name, cfg.model, json.loads(cfg.model_dump_json()), "cpu", False).id
        record_metrics(session, run_id, "test", {"recall@10": 0.2})
    assert finished_test_metrics(session_factory, cfg) is None  # still running (or killed): train it
    with write_transaction(session_factory) as session:
        finish_run(session, run_id, "finished")
    assert finished_test_metrics(session_factory, cfg) == {"recall@10": 0.2}
    other = cfg.model_copy(update={"epochs": cfg.epochs + 1})
    assert finished_test_metrics(session_factory, other) is None  # same name, another config: train it
    with write_transaction(session_factory) as session:
        alias = create_run(session, "renamed", other.model, {**json.loads(other.model_dump_json()), "name": "renamed"},
                           "cpu")
        record_metrics(session, alias.id, "test", {"recall@10": 0.3})
        finish_run(session, alias.id, "finished")
    assert finished_test_metrics(session_factory, other) == {"recall@10": 0.3}  # same config, another name


def test_the_ablations_finetuned_row_is_the_shipped_finetune_config() -> None:
    """`recommendation.py --ablation --reuse` reads the fine-tuned-encoder row back from a `lumicrs train --config
    configs/redial_acfl_finetune.yaml` run only while the two stay the same config."""
    rows = {config.name: config for config in load("recommendation").ablation_configs("redial", None)}
    row = rows["redial-acfl-ablation-encoder-fine-tuned"]
    shipped = load_config(REPO / "configs" / "redial_acfl_finetune.yaml")
    assert row.model_copy(update={"name": ""}) == shipped.model_copy(update={"name": ""})
    assert rows["redial-acfl-ablation-full-model"] == load_config(REPO / "configs" / "redial_acfl.yaml").model_copy(
        update={"name": "redial-acfl-ablation-full-model"})


def test_seeds_and_ablation_build_around_the_config_given() -> None:
    """`recommendation.py --seeds/--ablation --config configs/inspired_acfl_frozen.yaml` (the frozen INSPIRED spread)."""
    bench = load("recommendation")
    frozen = REPO / "configs" / "inspired_acfl_frozen.yaml"
    seeds = bench.seed_configs("inspired", [1, 2], None, frozen)
    assert [c.name for c in seeds] == ["inspired-acfl-frozen-seed-1", "inspired-acfl-frozen-seed-2"]
    assert not any(c.finetune_encoder for c in seeds)
    assert all(c.finetune_encoder for c in bench.seed_configs("inspired", [1], None))  # the shipped INSPIRED model
    full = bench.ablation_configs("inspired", None, frozen)[0]
    assert full.model_copy(update={"name": ""}) == load_config(frozen).model_copy(update={"name": ""})
