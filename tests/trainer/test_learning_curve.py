"""benchmarks/learning_curve.py's bookkeeping: a point's interval holds seed variance, the 100% runs are the seed
spread's runs (same names and configs), and only a finished run of exactly the same config is read back."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from db.engine import write_transaction
from db.queries.runs import create_run, finish_run, record_metrics
from tests.factories import make_dataset
from trainer.config import ACFLConfig, load_config
from trainer.run import finished_run_name, finished_test_metrics

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
    assert finished_run_name(session_factory, other) == "renamed"
    assert finished_run_name(session_factory, other, same_name=True) is None  # the tail-stage benchmark's: by name
    assert finished_run_name(session_factory, cfg, same_name=True) == cfg.name


def test_the_readme_ablation_rows_are_the_shipped_configs() -> None:
    """`recommendation.py --ablation --reuse` reads a `lumicrs train` run back as a row only while the row is the same
    config: around configs/redial_acfl_no_seeker.yaml the fine-tuned row is configs/redial_acfl_finetune.yaml and the
    "+ seeker targets" row is configs/redial_acfl_frozen.yaml; around the frozen model (docs/results.md's ablation) the
    fine-tuned row is the shipped configs/redial_acfl.yaml with one tuned epoch."""
    base = REPO / "configs" / "redial_acfl_no_seeker.yaml"
    rows = {config.name: config for config in load("recommendation").ablation_configs("redial", None, base)}

    def same(row: str, config: str) -> bool:
        return rows[f"redial-acfl-no-seeker-ablation-{row}"].model_copy(update={"name": ""}) == load_config(
            REPO / "configs" / config).model_copy(update={"name": ""})

    assert same("encoder-fine-tuned", "redial_acfl_finetune.yaml")
    assert same("seeker-targets", "redial_acfl_frozen.yaml")
    assert same("full-model", "redial_acfl_no_seeker.yaml")
    assert not same("full-model", "redial_acfl_frozen.yaml")
    frozen = REPO / "configs" / "redial_acfl_frozen.yaml"
    around_frozen = {c.name: c for c in load("recommendation").ablation_configs("redial", None, frozen)}
    assert "redial-acfl-frozen-ablation-seeker-targets" not in around_frozen  # a row that changes nothing: not trained
    assert len(around_frozen) == len(rows) - 1
    # the frozen model's "encoder: fine-tuned" row is the shipped model with one tuned epoch (the shipped one allows two)
    assert around_frozen["redial-acfl-frozen-ablation-encoder-fine-tuned"].model_copy(update={"name": ""}) == load_config(
        REPO / "configs" / "redial_acfl.yaml").model_copy(update={"name": "", "finetune_epochs": 1})


def test_each_variant_config_is_its_shipped_config_with_one_switch_changed() -> None:
    """The variant files are copies: each must stay its shipped config plus the switch it names, so an edit to a
    shipped config that is not carried into its variants fails here instead of silently comparing other models."""
    def plain(name: str, **change: object) -> object:
        return load_config(REPO / "configs" / name).model_copy(update={"name": "", **change})

    tuned = {"finetune_encoder": True, "finetune_epochs": 1, "encoder_lr": 1e-4}
    assert plain("redial_acfl.yaml") == plain("redial_acfl_frozen.yaml", **{**tuned, "finetune_epochs": 2})
    assert plain("redial_acfl_repeat_gate.yaml") == plain("redial_acfl_frozen.yaml", repeat_gate=True)
    assert plain("redial_acfl_no_seeker.yaml") == plain("redial_acfl_frozen.yaml", seeker_targets=False)
    assert plain("inspired_acfl_frozen.yaml") == plain("inspired_acfl.yaml", finetune_encoder=False, finetune_epochs=2,
                                                       encoder_lr=2e-5)
    assert plain("redial_acfl_finetune.yaml") == plain("redial_acfl_no_seeker.yaml", **tuned)


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


def test_main_reads_back_each_seed_run_and_names_its_report_after_the_config(
        session_factory: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`recommendation.py --dataset inspired --seeds 1 2 --config configs/inspired_acfl_frozen.yaml --reuse` as typed:
    the argparse wiring reads the stored runs of the given config back (trains nothing) and writes the spread to
    reports/seeds-inspired_acfl_frozen.json; a run whose validation chose a second stage keeps the model's own ranking
    beside it (read from its checkpoint), one that chose none its test figures twice; each run keeps its validation
    figures."""
    bench = load("recommendation")
    frozen = REPO / "configs" / "inspired_acfl_frozen.yaml"
    with write_transaction(session_factory) as session:
        make_dataset(session, "inspired")
        for value, slots, cfg in zip((0.2, 0.3), (0.0, 2.0), bench.seed_configs("inspired", [1, 2], None, frozen),
                                     strict=True):
            stored = create_run(session, cfg.name, cfg.model, json.loads(cfg.model_dump_json()), "cpu")
            record_metrics(session, stored.id, "test", {"recall@10": value, "rows": 10.0, "catalog_size": 5.0})
            record_metrics(session, stored.id, "valid", {"recall@10": value + 0.1, "rows": 7.0, "recall@1": 0.05,
                                                         "tail_stage_slots": slots})
            finish_run(session, stored.id, "finished")
    checkpoints: list[tuple[str, bool]] = []

    def first_stage(name: str, factory: object, first_stage: bool) -> dict[str, float]:
        checkpoints.append((name, first_stage))
        return {"recall@10": 0.34, "tail_recall@10": 0.01}

    monkeypatch.setattr(bench, "read_test_figures", first_stage)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["recommendation.py", "--dataset", "inspired", "--seeds", "1", "2",
                                      "--config", str(frozen), "--reuse"])
    bench.main()
    report = json.loads((tmp_path / "reports" / "seeds-inspired_acfl_frozen.json").read_text())
    assert set(report["runs"]) == {"inspired-acfl-frozen-seed-1", "inspired-acfl-frozen-seed-2"}
    assert all(r["cpu_seconds"] is None for r in report["runs"].values())  # read back, not trained
    assert report["spread"]["recall@10"] == pytest.approx({"mean": 0.25, "min": 0.2, "max": 0.3,
                                                          "sd": np.std([0.2, 0.3], ddof=1), "seeds": 2.0})
    assert checkpoints == [("inspired-acfl-frozen-seed-2", True)]  # only the run whose stage took slots
    runs = report["runs"]
    assert (runs["inspired-acfl-frozen-seed-1"]["tail_stage_slots"], runs["inspired-acfl-frozen-seed-2"]
            ["tail_stage_slots"]) == (0.0, 2.0)
    assert runs["inspired-acfl-frozen-seed-1"]["first_stage"] == {"recall@10": 0.2}
    assert runs["inspired-acfl-frozen-seed-2"]["first_stage"] == {"recall@10": 0.34, "tail_recall@10": 0.01}
    assert report["spread_first_stage"]["recall@10"]["mean"] == pytest.approx(0.27)
    # the validation figures every choice was made on, per run and over the seeds
    assert runs["inspired-acfl-frozen-seed-2"]["valid"] == pytest.approx({"recall@10": 0.4, "recall@1": 0.05,
                                                                          "rows": 7.0})
    assert report["spread_valid"]["recall@10"]["mean"] == pytest.approx(0.35)


def test_a_finished_run_without_test_figures_is_trained_again_not_read_back(
        session_factory: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = load("recommendation")
    frozen = REPO / "configs" / "inspired_acfl_frozen.yaml"
    cfg = bench.seed_configs("inspired", [1], None, frozen)[0]
    with write_transaction(session_factory) as session:
        make_dataset(session, "inspired")
        finish_run(session, create_run(session, cfg.name, cfg.model, json.loads(cfg.model_dump_json()), "cpu").id,
                   "finished")
    trained: list[str] = []

    def fake_run(config, factory, **kw):  # type: ignore[no-untyped-def]
        trained.append(config.name)
        return SimpleNamespace(metrics={"test": {"recall@10": 0.2, "rows": 10.0, "catalog_size": 5.0}})

    monkeypatch.setattr(bench, "run", fake_run)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["recommendation.py", "--dataset", "inspired", "--seeds", "1",
                                      "--config", str(frozen), "--reuse"])
    bench.main()
    report = json.loads((tmp_path / "reports" / "seeds-inspired_acfl_frozen.json").read_text())
    assert trained == [cfg.name] and report["runs"][cfg.name]["cpu_seconds"] is not None


def test_augmentation_lift_trains_every_arm_with_the_config_given_and_resumes(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`augmentation_lift.py --config configs/redial_acfl_no_seeker.yaml` (the README's lift figures) reaches the runs;
    without it the arms train the dataset's shipped config, once per --seed; a rerun reads the finished runs back from
    the report and trains nothing again."""
    lift = load("augmentation_lift")
    trained: list[object] = []
    m = {"recall@10": 0.1, "recall@10_lo": 0.0, "recall@10_hi": 0.2, "novel_recall@10": 0.1, "tail_recall@10": 0.02}
    monkeypatch.setattr(lift, "ensure_prototypes", lambda factory, dataset, cold: {"body": 0, "tail": 0})
    monkeypatch.setattr(lift, "run", lambda cfg, factory, **kw: trained.append(cfg) or SimpleNamespace(
        metrics={"test": m, "valid": m}))
    monkeypatch.chdir(tmp_path)
    for argv, config in ((["--config", str(REPO / "configs" / "redial_acfl_no_seeker.yaml")],
                          "redial_acfl_no_seeker.yaml"), ([], "redial_acfl.yaml")):
        monkeypatch.setattr(sys, "argv", ["augmentation_lift.py", "--arms", "none", "--seeds", "42", "1", *argv])
        lift.main()
        runs = [trained.pop(), trained.pop()][::-1]
        base = load_config(REPO / "configs" / config)
        assert [c.seed for c in runs] == [42, 1]
        assert runs[0].model_copy(update={"name": ""}) == base.model_copy(update={"name": ""})
        assert runs[1].name == f"{base.name}-lift-none-1"  # two configs' lifts never share (and overwrite) a run
    lift.main()  # the same setup again: both seeds are in the report
    assert trained == []
    report = json.loads((tmp_path / "reports" / "augmentation_lift.json").read_text())
    assert report["summary"]["none"]["tail_recall@10"] == {"mean": 0.02, "min": 0.02, "max": 0.02, "seeds": 2.0}


def test_a_lift_arm_whose_generation_was_interrupted_trains_nothing_and_per_movie_reaches_every_movie(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl+C during an arm's generation keeps what was written for the rerun but trains no arm on part of it (the
    report keeps only finished runs); `--per-movie K` asks K dialogues of every body and tail movie."""
    lift = load("augmentation_lift")
    trained: list[object] = []
    asked: list[dict[str, object]] = []
    m = {"recall@10": 0.1, "recall@10_lo": 0.0, "recall@10_hi": 0.2, "novel_recall@10": 0.1, "tail_recall@10": 0.02}
    monkeypatch.setattr(lift, "ensure_prototypes", lambda factory, dataset, cold: {"body": 0, "tail": 0})
    monkeypatch.setattr(lift, "run", lambda cfg, factory, **kw: trained.append(cfg) or SimpleNamespace(
        metrics={"test": m, "valid": m}))
    monkeypatch.setattr(lift, "run_generation", lambda *args, **kw: asked.append(kw) or SimpleNamespace(
        created=3, interrupted=True))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["augmentation_lift.py", "--arms", "none", "baseline-template", "--seeds", "42",
                                      "--per-movie", "2"])
    with pytest.raises(KeyboardInterrupt):
        lift.main()
    assert [c.name for c in trained] == ["redial-acfl-lift-none-42"]  # the template arm trained nothing
    assert asked[0]["tail_range"] == asked[0]["body_range"] == (2, 2)
    report = json.loads((tmp_path / "reports" / "augmentation_lift.json").read_text())
    assert list(report["runs"]) == ["none | seed 42"] and report["arms"] == {}


def test_a_lift_run_is_read_back_only_for_the_same_config_content_and_keeps_the_first_stage_beside_the_second(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's setup holds the config's content: the same path with a changed config (a tail stage switched on)
    trains every arm again. A run whose validation chose a second stage keeps the model's own ranking beside it."""
    lift = load("augmentation_lift")
    trained: list[object] = []
    staged = {"recall@10": 0.2, "tail_recall@10": 0.07, "novel_recall@10": 0.1, "recall@10_lo": 0.1, "recall@10_hi": 0.3}
    first = {"recall@10": 0.21, "tail_recall@10": 0.01, "novel_recall@10": 0.1}
    read: list[tuple[str, bool]] = []
    monkeypatch.setattr(lift, "ensure_prototypes", lambda factory, dataset, cold: {"body": 0, "tail": 0})
    monkeypatch.setattr(lift, "run", lambda cfg, factory, **kw: trained.append(cfg) or SimpleNamespace(metrics={
        "test": staged, "valid": {"recall@10": 0.2, "tail_stage_slots": 2.0 if cfg.tail_stage.enabled else None}}))
    monkeypatch.setattr(lift, "read_test_figures", lambda name, factory, first_stage: read.append(
        (name, first_stage)) or first)
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "lift.yaml"
    config.write_text("name: lift\ndataset: inspired\n")
    monkeypatch.setattr(sys, "argv", ["augmentation_lift.py", "--dataset", "inspired", "--arms", "none", "--seeds",
                                      "42", "--config", str(config)])
    lift.main()
    lift.main()
    assert len(trained) == 1 and read == []  # no stage: `test` is the first stage, nothing read again
    config.write_text("name: lift\ndataset: inspired\ntail_stage:\n  enabled: true\n")
    lift.main()
    assert len(trained) == 2 and read == [("lift-lift-none-42", True)]
    report = json.loads((tmp_path / "reports" / "augmentation_lift-inspired.json").read_text())
    run = report["runs"]["none | seed 42"]
    assert run["test"]["tail_recall@10"] == 0.07 and run["first_stage"]["tail_recall@10"] == 0.01
    assert run["tail_stage_slots"] == 2.0
    assert report["summary_first_stage"]["none"]["recall@10"]["mean"] == 0.21
    assert report["summary"]["none"]["recall@10"]["mean"] == 0.2


def test_the_tail_stage_benchmark_names_its_report_and_runs_after_the_config_and_reads_back_only_the_same_config(
        database_url: str, session_factory: sessionmaker[Session], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmarks/tail_stage.py: the dataset's frozen config gives reports/tail-stage-<dataset>.json, another config
    reports/tail-stage-<its stem>.json (runs named alike); a rerun skips the seeds in the report; a finished run is
    read back only when trained with exactly this config: the same path with changed content trains again."""
    bench = load("tail_stage")
    trained: list[str] = []

    def fake_run(cfg, factory, **kw):  # type: ignore[no-untyped-def]
        trained.append(cfg.name)
        with write_transaction(factory) as session:
            run_id = create_run(session, cfg.name, cfg.model, json.loads(cfg.model_dump_json()), "cpu", True, True).id
            finish_run(session, run_id, "finished", None)

    monkeypatch.setattr(bench, "REPO", tmp_path)
    monkeypatch.setattr(bench, "ensure_dataset", lambda url, dataset: None)
    monkeypatch.setattr(bench, "run", fake_run)
    monkeypatch.setattr(bench, "seed_options", lambda factory, name: {"chosen": "s0", "options": {
        "s0": {"recall@10": 0.2, "valid_recall@10": 0.3}}})

    def main(*argv: str) -> dict[str, object]:
        monkeypatch.setattr(sys, "argv", ["tail_stage.py", "--dataset", "inspired", "--seeds", "42", *argv])
        bench.main()
        return json.loads(next((tmp_path / "reports").glob("*.json")).read_text())

    report = main()
    assert trained == ["tail-stage-inspired-42"] and (tmp_path / "reports" / "tail-stage-inspired.json").exists()
    assert report["summary"]["s0"]["recall@10"]["mean"] == 0.2
    main()
    assert trained == ["tail-stage-inspired-42"]  # the seed is in the report
    (tmp_path / "reports" / "tail-stage-inspired.json").unlink()
    main()
    assert trained == ["tail-stage-inspired-42"]  # not in the report, but its finished run is read back
    (tmp_path / "reports" / "tail-stage-inspired.json").unlink()
    config = tmp_path / "mine.yaml"
    config.write_text((REPO / "configs" / "inspired_acfl_frozen.yaml").read_text().replace("name: ", "name: x", 1))
    main("--config", str(config))
    assert trained[-1] == "tail-stage-mine-42" and (tmp_path / "reports" / "tail-stage-mine.json").exists()
    config.write_text(config.read_text().replace("epochs:", "epochs: 1\n# was", 1))
    main("--config", str(config))  # the same path, another content: neither the report nor the run is read back
    assert trained == ["tail-stage-inspired-42", "tail-stage-mine-42", "tail-stage-mine-42"]


class Stopped(Exception):
    pass


def test_the_sweep_and_scaling_benchmarks_default_to_the_frozen_config_and_take_another(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Their README figures are the frozen model's: `acfl_sweep.py` (--base) and `train_scaling.py` (--config) default
    to configs/redial_acfl_frozen.yaml, and a config given on the command line is the one trained."""
    sweep, scaling = load("acfl_sweep"), load("train_scaling")
    other = tmp_path / "other.yaml"
    for argv, expected in (([], "configs/redial_acfl_frozen.yaml"), (["--base", str(other)], str(other))):
        def stop(path: Path) -> None:
            raise Stopped(str(path))
        monkeypatch.setattr(sweep, "load_config", stop)
        monkeypatch.setattr(sys, "argv", ["acfl_sweep.py", *argv])
        with pytest.raises(Stopped) as sweep_base:
            sweep.main()
        assert str(sweep_base.value).endswith(expected)
    seen: list[Path] = []
    monkeypatch.setattr(scaling, "run_once", lambda base, *args: seen.append(base) or [
        {"seconds": 1.0, "samples_per_second": 10.0}])
    for argv, expected in (([], REPO / "configs" / "redial_acfl_frozen.yaml"), (["--config", str(other)], other)):
        monkeypatch.setattr(sys, "argv", ["train_scaling.py", "--nproc", "1", *argv])
        scaling.main()
        assert seen.pop() == expected


def test_the_learning_curve_report_is_named_after_its_config(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`learning_curve.py --config configs/redial_acfl_frozen.yaml` and the shipped curve write separate reports; the
    runs are read back (trains nothing here)."""
    curve = load("learning_curve")
    trained: list[object] = []
    metrics = {f"{m}{s}": v for m in curve.METRICS for s, v in (("", 0.2), ("_lo", 0.18), ("_hi", 0.22))}
    monkeypatch.setattr(curve, "list_dialogues", lambda *args, **kwargs: [object()] * 100)
    monkeypatch.setattr(curve, "finished_test_metrics", lambda factory, cfg: {
        **metrics, "recall@10": 0.1 + cfg.train_fraction / 10})
    monkeypatch.setattr(curve, "run", lambda cfg, *args, **kwargs: trained.append(cfg))
    monkeypatch.chdir(tmp_path)
    for config in ("redial_acfl.yaml", "redial_acfl_frozen.yaml"):
        monkeypatch.setattr(sys, "argv", ["learning_curve.py", "--fractions", "0.5", "1.0", "--config",
                                          str(REPO / "configs" / config)])
        curve.main()
        stem = Path(config).stem
        report = json.loads((tmp_path / "reports" / f"learning_curve-{stem}.json").read_text())
        assert report["config"].endswith(config) and [p["train_conversations"] for p in report["points"]] == [50, 100]
        assert (tmp_path / "docs" / "img" / f"learning-curve-{stem}.png").stat().st_size > 0
    assert not trained


def test_the_ablation_report_keeps_each_rows_validation_figures(
        session_factory: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`recommendation.py --ablation --config configs/inspired_acfl_frozen.yaml --reuse --only "full model"`: the row
    is read back and its report entry carries the validation figures its choices were made on beside the test ones,
    so the docs' valid R@10 column comes from the report."""
    bench = load("recommendation")
    frozen = REPO / "configs" / "inspired_acfl_frozen.yaml"
    cfg = bench.ablation_configs("inspired", None, frozen)[0]
    with write_transaction(session_factory) as session:
        make_dataset(session, "inspired")
        stored = create_run(session, cfg.name, cfg.model, json.loads(cfg.model_dump_json()), "cpu")
        record_metrics(session, stored.id, "test", {"recall@10": 0.25, "rows": 10.0, "catalog_size": 5.0})
        record_metrics(session, stored.id, "valid", {"recall@10": 0.31, "rows": 7.0, "tail_stage_slots": 0.0})
        finish_run(session, stored.id, "finished")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["recommendation.py", "--dataset", "inspired", "--ablation", "--only",
                                      "full model", "--config", str(frozen), "--reuse"])
    bench.main()
    report = json.loads((tmp_path / "reports" / "ablation-inspired_acfl_frozen.json").read_text())
    row = report[cfg.name]
    assert row["label"] == "full model" and row["cpu_seconds"] is None
    assert row["test"]["recall@10"] == pytest.approx(0.25)
    assert row["valid"] == pytest.approx({"recall@10": 0.31, "rows": 7.0})


def test_metric_table_refuses_an_unknown_run_in_one_line_before_printing_any_row(
        session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`metric_table.py GOOD TYPO`: one line naming the unknown run and a non-zero exit, no half table on stdout."""
    bench = load("metric_table")
    with write_transaction(session_factory) as session:
        make_dataset(session, "redial")
        stored = create_run(session, "good-run", "acfl", {}, "cpu")
        record_metrics(session, stored.id, "test", {"recall@10": 0.2})
        finish_run(session, stored.id, "finished")
    monkeypatch.setattr(bench, "cli_session_factory", lambda: session_factory)
    monkeypatch.setattr(sys, "argv", ["metric_table.py", "good-run", "no-such-run"])
    with pytest.raises(SystemExit) as exit_info:
        bench.main()
    assert "no-such-run" in str(exit_info.value) and "\n" not in str(exit_info.value)
    assert capsys.readouterr().out == ""
    monkeypatch.setattr(sys, "argv", ["metric_table.py", "good-run"])
    bench.main()
    assert "| good-run | n/a | 0.200 |" in capsys.readouterr().out


def test_the_sweeps_variants_start_from_acfl_as_the_paper_writes_it_not_from_the_base_configs_settings() -> None:
    """The default base (configs/redial_acfl_frozen.yaml) carries the sweep's own choice (no class weight, k = 100%, no
    undersampling): "as-written" must still be Eq. 2-6 as printed, and the variant naming those three changes must be
    the shipped loss again."""
    sweep = load("acfl_sweep")
    base = load_config(REPO / "configs" / "redial_acfl_frozen.yaml")
    written = sweep.variant(base, "as-written", sweep.VARIANTS["as-written"])
    assert written.acfl == ACFLConfig() and written.acfl.class_weight_power == 1.0 and written.topk_ratio == 0.25
    assert written.acfl.theta_max == 5.0 and written.loss == "acfl"
    shipped = sweep.variant(base, "x", sweep.VARIANTS["weight-power-0-k-100-no-undersampling"])
    assert (shipped.acfl, shipped.topk_ratio) == (base.acfl, base.topk_ratio)
    assert shipped.model_copy(update={"name": "", "bootstrap": 0}) == base.model_copy(update={"name": "", "bootstrap": 0})
