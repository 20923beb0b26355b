"""Augmentation lift (LumiCRS Figure 7 arms) on the honest protocol of benchmarks/recommendation.py.

    DATABASE_URL=sqlite:///bench.db python benchmarks/augmentation_lift.py [--prototypes 400] [--epochs 20] [--config PATH]

Arms, each trained with the shipped configs/redial_acfl.yaml or --config (same seed, same test split, all 6,924 movies ranked):
  none        no augmentation
  random      + baseline-random dialogues   (offline, no LLM)
  template    + baseline-template dialogues (offline, no LLM)
  local-writer + prototype-guided dialogues by the shipped fine-tuned writer (no endpoint, llama.cpp or transformers
              on this machine): the offline arms' rule (every dialogue surviving the near-duplicate filter) plus
              one check that needs no model: a recommender turn names the target movie by title
  llm         + prototype-guided LLM dialogues, only when OPENAI_BASE_URL is set: generate, near-duplicate filter,
              five judges, routing; only the auto-accepted ones are exported (human review is not simulated).
Every arm runs the real path: prototypes chosen on the train split, the first N prototypes' dialogues generated
(tail 8-10, body 4-5 per movie), the SBERT near-duplicate filter, then the real export (a lead's versioned export
with sha256), read back by the trainer, which records the run -> export lineage in the database. The offline
arms have no judges: every candidate that survives the near-duplicate filter is approved (status auto_accepted).
Writes reports/augmentation_lift.json.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from reporting import write_report
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from annotator.export import export_approved
from augment.filtering import filter_near_duplicates
from augment.generate import run_generation
from augment.judging import judge_candidates
from augment.prototypes import select_prototypes
from augment.routing import route_candidates
from augment.service import make_generator, make_judges, weights_from
from augment.settings import get_settings as augment_settings
from augment.writer import names_target
from db.engine import make_engine, make_session_factory, write_transaction
from db.models import Candidate, Movie, Prototype
from db.queries.review import get_or_create_reviewer
from db.settings import get_settings
from db.types import Turn
from trainer.config import load_config
from trainer.evaluation import Report
from trainer.run import run

DATASET = "redial"


def ensure_prototypes(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        existing = len(list(session.scalars(select(Prototype.id))))
    if existing:
        return existing
    with write_transaction(factory) as session:
        summary = select_prototypes(session, DATASET, weights_from(augment_settings()), splits=("train",))
    return summary.created


def build_arm(factory: sessionmaker[Session], kind: str, n_prototypes: int) -> tuple[str, dict[str, object]]:
    """Generate, filter, approve (offline arms) or judge + route (llm), export; returns the export's data path."""
    settings = augment_settings()
    generator = make_generator(settings, kind, factory)
    made = run_generation(factory, DATASET, generator, tail_range=settings.tail_dialogues,
                          body_range=settings.body_dialogues, concurrency=settings.concurrency, limit=n_prototypes,
                          progress=True)
    with write_transaction(factory) as session:
        filtered = filter_near_duplicates(session, DATASET, settings.duplicate_threshold, progress=True)
    if kind == "llm":
        judge_candidates(factory, DATASET, list(make_judges(settings, factory)), temperature=settings.judge_temperature,
                         min_score=settings.judge_min_score, concurrency=settings.concurrency)
        with write_transaction(factory) as session:
            route_candidates(session, DATASET, len(settings.judges), accept_min=settings.accept_min_votes,
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
        export = export_approved(session, DATASET, f"lift-{kind}", lead, Path("exports"), generators=(generator.name,))
        path, rows = export.path, export.n_rows
    return path, {"generated": made.created, "duplicates": filtered.duplicates, "exported": rows,
                  "generator": generator.name}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prototypes", type=int, default=400, help="augment the first N prototypes' movies")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--config", type=Path, default=Path(__file__).resolve().parents[1] / "configs" / "redial_acfl.yaml",
                        help="the recommender every arm trains (README's figures: configs/redial_acfl_no_seeker.yaml)")
    parser.add_argument("--arms", nargs="+",
                        default=["none", "baseline-random", "baseline-template", "local-writer", "llm"])
    args = parser.parse_args()
    factory = make_session_factory(make_engine(get_settings().database_url))
    base = load_config(args.config)
    if args.epochs:
        base = base.model_copy(update={"epochs": args.epochs})
    arms = [a for a in args.arms if a != "llm" or augment_settings().base_url]
    if "llm" in args.arms and "llm" not in arms:
        print("llm arm skipped: no OPENAI_BASE_URL configured", flush=True)
    print(f"prototypes available: {ensure_prototypes(factory)}", flush=True)
    results: dict[str, dict[str, object]] = {}
    for arm in arms:
        exports: tuple[Path, ...] = ()
        stats: dict[str, object] = {}
        if arm != "none":
            path, stats = build_arm(factory, arm, args.prototypes)
            exports = (Path(path),)
        # named after the config (two configs' lifts never overwrite each other); the arm's export is rebuilt on
        # every run, so its earlier run under this name is this benchmark's to replace
        cfg = base.model_copy(update={"name": f"{base.name}-lift-{arm}", "augmented_exports": exports})
        result = run(cfg, factory, progress=False, force=True, replace=True)
        m: Report = result.metrics["test"]
        results[arm] = {**stats, "run": cfg.name, "test": m}
        print(f"{arm}: {stats} R@10 {m['recall@10']:.3f} [{m['recall@10_lo']:.3f}, {m['recall@10_hi']:.3f}] "
              f"tail-R@10 {m.get('tail_recall@10') or 0:.3f} [{m.get('tail_recall@10_lo') or 0:.3f}, "
              f"{m.get('tail_recall@10_hi') or 0:.3f}] unseen-R@10 {m.get('unseen_recall@10') or 0:.3f} "
              f"novel R@10 {m['novel_recall@10']:.3f}", flush=True)
    out = Path("reports") / "augmentation_lift.json"
    out.parent.mkdir(exist_ok=True)
    write_report(out, results)
    print(f"wrote {out}")


if __name__ == "__main__":
    from interrupt import run as run_script

    run_script(main)
