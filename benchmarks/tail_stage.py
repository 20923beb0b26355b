"""The tail-aware second stage (trainer/tail_stage.py): every option it may take, on validation and on test.

    DATABASE_URL=sqlite:///bench.db python benchmarks/tail_stage.py --dataset inspired --seeds 42 1 2
    ... --dataset redial --config configs/redial_acfl_frozen.yaml --seeds 42 1 2

Each seed trains --config (default configs/<dataset>_acfl_frozen.yaml) once with `tail_stage` enabled (run name
tail-stage-<dataset or config stem>-<seed>; a finished run of that name is read back, not retrained). One trained model, every
option: the first stage alone (s = 0), and s reserved slots of the top 10 for the model's best-scored rare movies
(train count <= max_count), for each s and max_count of the config's `tail_stage` lists. The option the rule picks
(validation only: the best validation recall on rows whose movie training saw at most once, within
`max_recall_drop` of the first stage's validation R@10) is marked; its test figures are what `lumicrs train` stores
for the run. Test figures are the standard protocol and the novel one (targets already in the context dropped),
95% bootstrap intervals over test conversations; the mean over seeds per option.
Resumable: each finished seed is written to the report at once and a rerun skips it, as long as the config is the
same (its path and its content); a finished run of the seed's name is read back only if trained with exactly this config.
Writes reports/tail-stage-<dataset>.json (another --config: reports/tail-stage-<config file stem>.json).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from recommendation import CONFIGS, ensure_dataset
from reporting import REPO, config_fingerprint, over_seeds, write_report

from db.engine import make_engine, make_session_factory
from db.settings import get_settings
from trainer.config import load_config
from trainer.distributed import resolve_device
from trainer.loop import encoded_text, evaluate_model
from trainer.run import features, finished_run_name, load_trained, run, stored_tail_stage, tail_stage_options
from trainer.tail_stage import TailStage

FIGURES = ("recall@10", "tail_recall@10", "unseen_recall@10", "train_tail_recall@10", "novel_recall@10",
           "coverage@10", "recall@50")
CHOSEN = "validation's choice (per seed)"
TARGETS = "LumiCRS issue 47's ReDial targets: Tail-R@10 >= 0.067 with R@10 >= 0.20 and novel R@10 >= 0.165"


def option_key(stage: TailStage) -> str:
    return "first stage alone" if stage.slots == 0 else f"{stage.slots} slots, count <= {stage.max_count}"


def seed_options(factory: Any, name: str) -> dict[str, Any]:
    """Every option's validation and test figures for one trained run, and the option the rule chose."""
    run_id, cfg, data, model, item_emb, vectors = load_trained(name, factory)
    device = resolve_device(cfg.device)
    _, valid, test = features(data, vectors, cfg)
    valid, test = encoded_text(model, valid), encoded_text(model, test)
    counts = data.train_counts()
    chosen, options = tail_stage_options(model, cfg, data, valid, device)
    assert chosen == stored_tail_stage(factory, run_id), "the run stored another stage than the rule picks"
    out: dict[str, Any] = {"chosen": option_key(chosen), "options": {}}
    for option in options:
        reports = {split: evaluate_model(model, feats, data.catalog, counts, item_emb, device, (10, 50),
                                         n_boot=cfg.bootstrap, seed=cfg.seed, stage=option.stage)
                   for split, feats in (("valid", valid), ("test", test))}
        out["options"][option_key(option.stage)] = {
            "valid_recall@10": option.recall, "valid_rare_recall@10": option.tail_recall,
            **{f"valid_{k}": reports["valid"].get(k) for k in FIGURES},
            **{k: reports["test"].get(k) for k in FIGURES},
            **{f"{k}_lo": reports["test"].get(f"{k}_lo") for k in FIGURES},
            **{f"{k}_hi": reports["test"].get(f"{k}_hi") for k in FIGURES},
            "rows": reports["test"].get("rows"), "rows_tail": reports["test"].get("rows_tail"),
            "rows_unseen": reports["test"].get("rows_unseen"), "valid_rows": reports["valid"].get("rows")}
    return out


def summary(seeds: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    keys = next(iter(seeds.values()))["options"] if seeds else {}
    out: dict[str, dict[str, dict[str, float]]] = {}
    for key in keys:
        figures = {}
        for figure in ("valid_recall@10", "valid_rare_recall@10", *FIGURES):
            values = [float(s["options"][key][figure]) for s in seeds.values()
                      if s["options"][key].get(figure) is not None]
            if values:
                figures[figure] = over_seeds(values)
        figures["chosen_by"] = {"seeds": float(sum(s["chosen"] == key for s in seeds.values()))}
        out[key] = figures
    chosen: dict[str, dict[str, float]] = {}  # what `lumicrs train` stores: each seed's validation-chosen option
    for figure in ("valid_recall@10", "valid_rare_recall@10", *FIGURES):
        values = [float(s["options"][s["chosen"]][figure]) for s in seeds.values()
                  if s["options"][s["chosen"]].get(figure) is not None]
        if values:
            chosen[figure] = over_seeds(values)
    if chosen:
        chosen["chosen_by"] = {"seeds": float(len(seeds))}
        out[CHOSEN] = chosen
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["redial", "inspired"], default="inspired")
    parser.add_argument("--config", type=Path, default=None, help="the model (default <dataset>_acfl_frozen.yaml)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    args = parser.parse_args()
    url = get_settings().database_url
    ensure_dataset(url, args.dataset)
    factory = make_session_factory(make_engine(url))
    default = CONFIGS / f"{args.dataset}_acfl_frozen.yaml"
    config = args.config or default
    base = load_config(config)
    name = args.dataset if config.resolve() == default.resolve() else config.stem
    config = config.resolve().relative_to(REPO) if config.resolve().is_relative_to(REPO) else config
    stage = base.tail_stage.model_copy(update={"enabled": True})
    out = REPO / "reports" / f"tail-stage-{name}.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    fingerprint = config_fingerprint(base.model_copy(update={"tail_stage": stage}))
    same = previous.get("config") == str(config) and previous.get("config_sha256", fingerprint) == fingerprint
    seeds: dict[str, dict[str, Any]] = previous.get("seeds", {}) if same else {}
    for n, seed in enumerate([s for s in args.seeds if str(s) not in seeds], 1):
        cfg = base.model_copy(update={"name": f"tail-stage-{name}-{seed}", "seed": seed, "tail_stage": stage})
        done = finished_run_name(factory, cfg, same_name=True) is not None  # exactly this config, by this name
        print(f"[{n}] seed {seed}: {'read back' if done else 'training'} {cfg.name}", flush=True)
        if not done:
            run(cfg, factory, progress=False, force=True, replace=True)
        seeds[str(seed)] = seed_options(factory, cfg.name)
        write_report(out, {"dataset": args.dataset, "config": str(config), "config_sha256": fingerprint,
                           "tail_stage": json.loads(stage.model_dump_json()), "targets": TARGETS, "seeds": seeds,
                           "summary": summary(seeds)})
    table = summary(seeds)
    if seeds and (previous.get("summary") != table or "config_sha256" not in previous):  # what this version adds
        write_report(out, {"dataset": args.dataset, "config": str(config), "config_sha256": fingerprint,
                           "tail_stage": json.loads(stage.model_dump_json()), "targets": TARGETS, "seeds": seeds,
                           "summary": table})
    shown = ("valid_recall@10", "valid_rare_recall@10", "recall@10", "tail_recall@10", "unseen_recall@10",
             "novel_recall@10", "coverage@10")
    print(f"{args.dataset}: mean over {len(seeds)} seeds (valid_* on validation, the rest on test)")
    print(f"{'option':32} {'chosen':>6} " + " ".join(f"{f:>20}" for f in shown))
    for key, figures in table.items():
        print(f"{key:32} {int(figures['chosen_by']['seeds']):>6} "
              + " ".join(f"{figures[f]['mean']:>20.3f}" if f in figures else f"{'-':>20}" for f in shown))
    print(TARGETS)


if __name__ == "__main__":
    from interrupt import run as run_script

    run_script(main)
