"""Augmentation lift (LumiCRS Figure 7 arms) on the honest protocol of benchmarks/recommendation.py.

    DATABASE_URL=sqlite:///bench.db python benchmarks/augmentation_lift.py [--dataset redial] [--prototypes N]
        [--per-movie K] [--cold-start] [--seeds 42 1 2] [--epochs 20] [--config PATH] [--arms ...]

Arms, each trained with --config (default the dataset's shipped configs/<dataset>_acfl.yaml; same test split, every
movie of the dataset ranked):
  none        no augmentation
  random      + baseline-random dialogues   (offline, no LLM)
  template    + baseline-template dialogues (offline, no LLM)
  local-writer + prototype-guided dialogues by the shipped fine-tuned writer (no endpoint; batched on transformers):
              the offline arms' rule (every dialogue surviving the near-duplicate filter) plus one check that needs
              no model: a recommender turn names the target movie by title
  llm         + prototype-guided LLM dialogues, only when OPENAI_BASE_URL is set: generate, near-duplicate filter,
              five judges, routing; only the auto-accepted ones are exported (human review is not simulated).
Every arm runs the real path: prototypes chosen on the train split (with --cold-start also every catalog movie no
train dialogue mentions, its prototype chosen by the movie's text), the first N prototypes' dialogues generated (all
of them by default; tail 8-10, body 4-5 per movie as the paper, or --per-movie K for every movie), the SBERT
near-duplicate filter, then the real export (a lead's versioned export with sha256), read back by the trainer, which
records the run -> export lineage in the database. The offline arms have no judges: every candidate that survives
the near-duplicate filter is approved (status auto_accepted).
Training seeds: --seeds for the none and local-writer arms (the primary comparison), the first seed for the others.
Primary endpoints: Tail-R@10 (the paper's tail: one mention in the whole corpus) and Unseen-R@10 (never in train),
with 95% bootstrap intervals over test conversations; also R@10, novel R@10, Cov@10; the mean over seeds per arm.
A config with a tail-aware second stage (trainer.tail_stage) gives each run twice: as it ranks, with the stage its
validation rows chose (`test`, `summary`), and the trained model's own ranking (`first_stage`, `summary_first_stage`).
Resumable: generation goes through the database (a rerun writes only the dialogues not there yet, never a second
copy), and each finished training run is written to the report at once and read back on a rerun of the same setup (the
same config content: a changed config trains every arm again).
Writes reports/augmentation_lift[-<dataset>].json.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from reporting import config_fingerprint, over_seeds, write_report
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from annotator.export import export_approved
from augment.filtering import filter_in_short_writes
from augment.generate import run_generation
from augment.judging import judge_candidates
from augment.prototypes import select_prototypes_in_short_writes
from augment.routing import route_candidates
from augment.service import make_generator, make_judges, weights_from
from augment.settings import get_settings as augment_settings
from augment.writer import names_target
from db.engine import make_engine, make_session_factory, write_transaction
from db.models import Candidate, Dataset, Movie, Prototype
from db.queries.longtail import movie_tiers
from db.queries.review import get_or_create_reviewer
from db.settings import get_settings
from db.types import Turn
from trainer.config import load_config
from trainer.evaluation import Report
from trainer.run import read_test_figures, run

FIGURES = ("recall@10", "tail_recall@10", "unseen_recall@10", "novel_recall@10", "coverage@10")


def ensure_prototypes(factory: sessionmaker[Session], dataset: str, cold_start: bool) -> dict[str, int]:
    """Prototypes of the dataset's body/tail train movies (and, with cold_start, of every movie no train dialogue
    mentions); made when missing, counted by kind."""
    select_prototypes_in_short_writes(factory, dataset, weights_from(augment_settings()), splits=("train",),
                                      cold_start=cold_start, progress=False)
    with factory() as session:
        in_train = dict(movie_tiers(session, dataset, splits=("train",)))
        rows = session.execute(select(Prototype.tier, Prototype.movie_id)
                               .join(Movie, Movie.id == Prototype.movie_id)
                               .join(Dataset, Dataset.id == Movie.dataset_id).where(Dataset.name == dataset)).all()
    return {"body": sum(t == "body" for t, _ in rows), "tail": sum(t == "tail" and m in in_train for t, m in rows),
            "cold-start": sum(m not in in_train for _, m in rows)}


def build_arm(factory: sessionmaker[Session], dataset: str, kind: str, n_prototypes: int | None,
              per_movie: int | None) -> tuple[str, dict[str, object]]:
    """Generate, filter, approve (offline arms) or judge + route (llm), export; returns the export's data path."""
    settings = augment_settings()
    generator = make_generator(settings, kind, factory)
    tail_range = (per_movie, per_movie) if per_movie else settings.tail_dialogues
    body_range = (per_movie, per_movie) if per_movie else settings.body_dialogues
    made = run_generation(factory, dataset, generator, tail_range=tail_range, body_range=body_range,
                          concurrency=settings.concurrency, limit=n_prototypes, progress=True)
    if made.interrupted:  # Ctrl+C: what was written is kept for the rerun; no arm is trained on part of it
        raise KeyboardInterrupt
    filtered = filter_in_short_writes(factory, dataset, settings.duplicate_threshold, progress=True)
    if kind == "llm":
        judge_candidates(factory, dataset, list(make_judges(settings, factory)), temperature=settings.judge_temperature,
                         min_score=settings.judge_min_score, concurrency=settings.concurrency)
        with write_transaction(factory) as session:
            route_candidates(session, dataset, len(settings.judges), accept_min=settings.accept_min_votes,
                             review_min=settings.review_min_votes, overlap=settings.review_overlap)
    else:
        with write_transaction(factory) as session:
            kept = session.scalars(select(Candidate).where(Candidate.generator == generator.name,
                                                           Candidate.status == "generated",
                                                           Candidate.similarity_to_prototype.is_not(None))).all()
            titles = {movie_id: title for movie_id, title in session.execute(select(Movie.id, Movie.title))}
            approved = [c.id for c in kept if kind != "local-writer" or names_target(
                [Turn.model_validate(t) for t in c.turns], titles[c.movie_id])]
            session.execute(update(Candidate).where(Candidate.id.in_(approved)).values(status="auto_accepted"))
    with write_transaction(factory) as session:
        lead = get_or_create_reviewer(session, "benchmark-lead", "lead")
        export = export_approved(session, dataset, f"lift-{dataset}-{kind}", lead, Path("exports"),
                                 generators=(generator.name,))
        path, rows = export.path, export.n_rows
        movies = len(set(session.scalars(select(Candidate.movie_id).where(Candidate.generator == generator.name,
                                                                           Candidate.status == "auto_accepted"))))
    return path, {"generated": made.created, "duplicates": filtered.duplicates, "exported": rows,
                  "movies_exported": movies, "generator": generator.name}


def arm_summary(runs: dict[str, dict[str, object]], arm: str, part: str = "test") -> dict[str, dict[str, float]]:
    """Mean, min and max over the arm's seeds of each figure (`part` "first_stage": the model's own ranking)."""
    out = {}
    for figure in FIGURES:
        values = [float(r[part][figure]) for key, r in runs.items()  # type: ignore[index]
                  if key.split(" | ")[0] == arm and part in r and r[part].get(figure) is not None]  # type: ignore[attr-defined]
        if values:
            out[figure] = over_seeds(values)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["redial", "inspired"], default="redial")
    parser.add_argument("--prototypes", type=int, default=None, help="augment the first N prototypes' movies (all)")
    parser.add_argument("--per-movie", type=int, default=None, help="dialogues per movie (default: the paper's ranges)")
    parser.add_argument("--cold-start", action="store_true", help="also every catalog movie without a train dialogue")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2], help="training seeds (none, local-writer)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--config", type=Path, default=None,
                        help="the recommender every arm trains (default configs/<dataset>_acfl.yaml)")
    parser.add_argument("--arms", nargs="+",
                        default=["none", "baseline-random", "baseline-template", "local-writer", "llm"])
    args = parser.parse_args()
    factory = make_session_factory(make_engine(get_settings().database_url))
    config = args.config or Path(__file__).resolve().parents[1] / "configs" / f"{args.dataset}_acfl.yaml"
    base = load_config(config)
    if args.epochs:
        base = base.model_copy(update={"epochs": args.epochs})
    arms = [a for a in args.arms if a != "llm" or augment_settings().base_url]
    if "llm" in args.arms and "llm" not in arms:
        print("llm arm skipped: no OPENAI_BASE_URL configured", flush=True)
    prototypes = ensure_prototypes(factory, args.dataset, args.cold_start)
    print(f"prototypes: {prototypes}", flush=True)
    out = Path("reports") / ("augmentation_lift.json" if args.dataset == "redial" else f"augmentation_lift-{args.dataset}.json")
    # the config's content, not only its path: a run trained before the config changed is not read back
    setup = {"dataset": args.dataset, "config": str(config), "config_sha256": config_fingerprint(base),
             "prototypes": prototypes, "limit": args.prototypes,
             "per_movie": args.per_movie or "the paper's (tail 8-10, body 4-5)", "cold_start": args.cold_start,
             "seeds": args.seeds}
    previous = json.loads(out.read_text()) if out.exists() else {}
    runs: dict[str, dict[str, object]] = previous.get("runs", {}) if previous.get("setup") == setup else {}
    arms_made: dict[str, dict[str, object]] = previous.get("arms", {}) if runs else {}
    for arm in arms:
        exports: tuple[Path, ...] = ()
        seeds = args.seeds if arm in ("none", "local-writer") else args.seeds[:1]
        todo = [seed for seed in seeds if f"{arm} | seed {seed}" not in runs]
        if not todo:
            continue
        if arm != "none":
            path, stats = build_arm(factory, args.dataset, arm, args.prototypes, args.per_movie)
            arms_made[arm] = {**stats, "export": path}
            exports = (Path(path),)
        for seed in todo:
            # named after the config (two configs' lifts never overwrite each other); the arm's export is rebuilt on
            # every run, so its earlier run under this name is this benchmark's to replace
            cfg = base.model_copy(update={"name": f"{base.name}-lift-{arm}-{seed}", "augmented_exports": exports,
                                          "seed": seed})
            result = run(cfg, factory, progress=False, force=True, replace=True)
            m: Report = result.metrics["test"]
            slots = result.metrics["valid"].get("tail_stage_slots")
            # the model's own ranking too, when validation chose a second stage (else `test` is that ranking)
            first = read_test_figures(cfg.name, factory, first_stage=True) if slots else m
            runs[f"{arm} | seed {seed}"] = {"run": cfg.name, "test": m,
                                            "valid_recall@10": result.metrics["valid"].get("recall@10"),
                                            "tail_stage_slots": slots,
                                            "first_stage": {f: first.get(f) for f in FIGURES}}
            print(f"{arm} seed {seed}: R@10 {m['recall@10']:.3f} [{m['recall@10_lo']:.3f}, {m['recall@10_hi']:.3f}] "
                  f"tail-R@10 {m.get('tail_recall@10') or 0:.3f} [{m.get('tail_recall@10_lo') or 0:.3f}, "
                  f"{m.get('tail_recall@10_hi') or 0:.3f}] unseen-R@10 {m.get('unseen_recall@10') or 0:.3f} "
                  f"novel R@10 {m['novel_recall@10']:.3f}", flush=True)
            write_report(out, {"setup": setup, "arms": arms_made, "runs": runs,
                               "summary": {a: arm_summary(runs, a) for a in arms},
                               "summary_first_stage": {a: arm_summary(runs, a, "first_stage") for a in arms}})
    print(f"wrote {out}")


if __name__ == "__main__":
    from interrupt import run as run_script

    run_script(main)
