"""Learning curve: the shipped ReDial ACFL config (or --config) on 25/50/75/100% of the available train
conversations, each fraction trained once per training seed.

    DATABASE_URL=sqlite:///bench.db python benchmarks/learning_curve.py [--fractions 0.25 0.5 0.75 1.0] [--seeds 42 1 2]
        [--config configs/redial_acfl_frozen.yaml]

Same test split and protocol as benchmarks/recommendation.py (standard protocol, all movies ranked). The seed drives
the subset drawn, the validation hold-out, initialisation and batch order; the 100% runs are the ones
`recommendation.py --seeds` trains (same names and configs), and a finished run of the same config is read back, not
retrained (whatever its name: the ablation's full model is the seed-42 100% point), so an interrupted curve goes on
where it stopped. A point is the mean over seeds. The curve
R@10 = a + b * ln(n) (n = train conversations available before the 10% validation hold-out) is fitted by least
squares, and extrapolated to the dataset's official train conversations (ReDial 10,006; INSPIRED's 801 are all
staged, so there the curve is read at its last point). Its uncertainty: 2,000 parametric
resamples, each point drawn from a normal whose variance is the test bootstrap's (the mean over seeds of (95% width /
3.92)^2) plus the seeds' (their sample variance), refitted; the 2.5/97.5 percentiles of the extrapolation. The
points share one test set, which this treats as independent noise (so the slope's interval is, if anything, too
wide). A log-linear fit on 4 points is a rough guide, not a promise: learning curves usually flatten, so the
extrapolation is more likely high than low. Writes reports/learning_curve-<config file stem>.json and
docs/img/learning-curve-<config file stem>.png.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from reporting import write_report

from db.engine import make_engine, make_session_factory
from db.queries.corpus import list_dialogues
from db.settings import get_settings
from trainer.config import TrainConfig, load_config
from trainer.run import finished_test_metrics, run

OFFICIAL_TRAIN = {"redial": 10_006, "inspired": 801}  # each dataset's official train conversations
PAPER_R10 = {"redial": 0.286, "inspired": 0.274}      # LumiCRS Tables 4 and 5
METRICS = ("recall@10", "tail_recall@10", "novel_recall@10")


def fit_log_linear(n: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    slope, intercept = np.polyfit(np.log(n), y, 1)
    return float(intercept), float(slope)


def extrapolate(n: np.ndarray, y: np.ndarray, se: np.ndarray, target: int, draws: int = 2000,
                seed: int = 0) -> tuple[float, float, float]:
    a, b = fit_log_linear(n, y)
    rng = np.random.default_rng(seed)
    sims = [sum(x * c for x, c in zip(fit_log_linear(n, rng.normal(y, se)), (1.0, np.log(target)), strict=True))
            for _ in range(draws)]
    lo, hi = np.percentile(sims, [2.5, 97.5])
    return a + b * float(np.log(target)), float(lo), float(hi)


def plot(points: list[dict[str, float]], fit: dict[str, float], out: Path, dataset: str = "redial") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = np.array([p["train_conversations"] for p in points])
    y = np.array([p["recall@10"] for p in points])
    err = np.array([[p["recall@10"] - p["recall@10_lo"], p["recall@10_hi"] - p["recall@10"]] for p in points]).T
    official = OFFICIAL_TRAIN[dataset]
    grid = np.linspace(n.min() * 0.9, max(official, n.max()), 100)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.errorbar(n, y, yerr=err, fmt="o", color="#333333", capsize=3,
                label="measured (mean over seeds, 95% CI incl. seed variance)")
    ax.plot(grid, fit["a"] + fit["b"] * np.log(grid), color="#4477aa", label="fit: a + b ln(n)")
    if official > n.max():
        ax.errorbar([official], [fit["predicted"]], yerr=[[fit["predicted"] - fit["lo"]], [fit["hi"] - fit["predicted"]]],
                    fmt="s", color="#cc6677", capsize=3, label=f"extrapolated to {official:,}")
    ax.axhline(PAPER_R10[dataset], color="#999999", linestyle="--", linewidth=1, label="LumiCRS paper R@10")
    ax.set_xlabel("train conversations")
    ax.set_ylabel(f"{'ReDial' if dataset == 'redial' else 'INSPIRED'} test R@10 (standard protocol)")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def curve_config(base: TrainConfig, fraction: float, seed: int) -> TrainConfig:
    """The 100% runs are named as `recommendation.py --seeds` names them, so either script reuses the other's."""
    name = f"{base.name}-seed-{seed}" if fraction == 1.0 else f"{base.name}-lc{round(fraction * 100)}-seed-{seed}"
    return base.model_copy(update={"name": name, "train_fraction": fraction, "seed": seed})


def combine(runs: list[dict[str, float]], metric: str) -> tuple[float, float]:
    """Mean over seeds and the point's standard error: test bootstrap variance (mean over seeds) plus seed
    variance (sample variance; 0 with one seed)."""
    values = np.array([r[metric] for r in runs], dtype=float)
    boot = np.array([((r[f"{metric}_hi"] - r[f"{metric}_lo"]) / 3.92) ** 2 for r in runs], dtype=float)
    seed_var = float(values.var(ddof=1)) if len(values) > 1 else 0.0
    return float(values.mean()), float(np.sqrt(boot.mean() + seed_var))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--config", type=Path, default=Path("configs/redial_acfl.yaml"))
    args = parser.parse_args()
    factory = make_session_factory(make_engine(get_settings().database_url))
    base = load_config(args.config)
    with factory() as session:
        available = len(list_dialogues(session, base.dataset, base.train_splits, readable=False))
    points = []
    for fraction in args.fractions:
        runs = []
        for seed in args.seeds:
            cfg = curve_config(base, fraction, seed)
            metrics = finished_test_metrics(factory, cfg)
            if metrics is None:
                metrics = dict(run(cfg, factory, progress=False, force=True).metrics["test"])
            runs.append(metrics)
            print(json.dumps({"run": cfg.name, **{m: metrics.get(m) for m in METRICS}}), flush=True)
        point: dict[str, float] = {"fraction": fraction, "train_conversations": round(available * fraction),
                                   "seeds": len(runs)}
        for metric in METRICS:
            mean, se = combine(runs, metric)
            point.update({metric: mean, f"{metric}_se": se, f"{metric}_lo": mean - 1.96 * se,
                          f"{metric}_hi": mean + 1.96 * se,
                          f"{metric}_by_seed": [r[metric] for r in runs]})  # type: ignore[dict-item]
        points.append(point)
        print(json.dumps(point), flush=True)
    n = np.array([p["train_conversations"] for p in points], dtype=float)
    fits = {}
    for metric in METRICS:
        y = np.array([p[metric] for p in points], dtype=float)
        se = np.array([p[f"{metric}_se"] for p in points], dtype=float)
        a, b = fit_log_linear(n, y)
        predicted, lo, hi = extrapolate(n, y, se, OFFICIAL_TRAIN[base.dataset])
        fits[metric] = {"a": a, "b": b, "predicted": predicted, "lo": lo, "hi": hi}
        print(f"{metric}: a={a:.4f} b={b:.4f}/ln-conversation; at {OFFICIAL_TRAIN[base.dataset]:,} train conversations "
              f"{predicted:.3f} [95% {lo:.3f}, {hi:.3f}]")
    out = Path("reports")
    out.mkdir(exist_ok=True)
    stem = out / f"learning_curve-{args.config.stem}"
    write_report(stem.with_suffix(".json"), {"config": str(args.config), "seeds": args.seeds, "points": points,
                                             "fits": fits})
    image = Path("docs") / "img" / f"learning-curve-{args.config.stem}.png"
    image.parent.mkdir(parents=True, exist_ok=True)
    plot(points, fits["recall@10"], image, base.dataset)
    print(f"wrote {stem}.json, {image}")


if __name__ == "__main__":
    from interrupt import run as run_script

    run_script(main)
