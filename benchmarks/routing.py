"""Human labels needed for the same precision of the approved set: the paper's fixed vote vs the posterior policy,
under an easy simulated panel and four harder ones.

    python benchmarks/routing.py [--seeds 20] [--tune-seeds 5] [--candidates 10000] [--batch 500] [--audit 0.02]
                                 [--panels independent,...] [--database]

The simulated panels (stated, seeded; a simulated panel is not a real one). Five judges with known (sensitivity,
specificity): judge-1 (0.90, 0.85), judge-2 (0.85, 0.80), judge-3 (0.80, 0.70), judge-4 (0.75, 0.55, lenient) and
judge-5 (0.50, 0.50: votes at random); reviewers decide as the ground truth says (a perfect reviewer).
- independent: a reviewer would approve 60% of the candidates; judges err independently given the truth (the judge
  model's assumption);
- correlated errors: on 15% of the candidates (misleading ones) every judge votes as if the truth were the opposite,
  so their errors coincide there (the judge model's assumption fails);
- 30% approve: a reviewer would approve 30% of the candidates;
- 10% invalid votes: each vote is invalid (no parseable verdict) with probability 0.1; it counts as a fail under the
  vote rule and as no vote in the judge model, as in the app;
- all three: correlated errors, 30% approve and 10% invalid votes together.

Arms, on the same candidates and votes per seed:
- votes (the paper): 4-5 passes auto-accept, 2-3 a human, 0-1 discard. Labels = the 2-3 band.
- posterior (augment.routing, the app's code): candidates arrive `--batch` at a time, one `augment route` call each,
  and reviewers decide a call's review band before the next. While fewer than MIN_DECIDED candidates are decided the
  batch is routed by votes (the app refuses the posterior policy then); from then on every call refits the judge
  model on all votes with all verdicts so far, chooses the cuts on the decided ones (cross-fitted) for a stated
  precision, and routes the batch by the posterior, the audit share of sure candidates to a human. Labels = every
  candidate a human decided, the votes-routed start included.

Figures per arm: human labels; approved-set precision (auto-accepted + human-approved, against the ground truth);
yield (the share of the good candidates that end approved) and good candidates discarded (routed to discard without
a human: the reviewers never see them); coverage (the share the posterior routed that no human saw).

Equal precision, chosen apart from the reported seeds: on the tuning seeds (0..tune-seeds-1) the stated precision is
swept over GRID and the setting kept is the smallest-label one whose mean approved-set precision reaches the votes
arm's there; the figures are then reported on other seeds (1000..1000+seeds-1), never used to choose anything here or
in the app's defaults (the 2% audit default was set on seeds 0-19 of an earlier version of this benchmark). The
reported precision of that setting may fall short of the votes arm's on the reported seeds: it is printed beside it.
Labels saved = 1 - posterior labels / votes labels, per seed. Intervals: 95% bootstrap over seeds (of the mean).
Every EM fit the posterior arm makes is checked; fits that stopped at the iteration cap are counted and said.
--database adds the same cuts on the review data in DATABASE_URL when it has enough human-decided candidates.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment.routing import PolicyNotReady, PosteriorRule, audited, posterior_rule, route_for  # noqa: E402
from calibration.judge_model import fit_judges  # noqa: E402
from db.queries.candidates import JudgedCandidate  # noqa: E402

JUDGES = {"judge-1": (0.90, 0.85), "judge-2": (0.85, 0.80), "judge-3": (0.80, 0.70), "judge-4": (0.75, 0.55),
          "judge-5": (0.50, 0.50)}
GRID = (0.90, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98)
REPORT_SEED_BASE = 1000  # reported seeds start here; tuning seeds start at 0


@dataclass(frozen=True)
class Panel:
    name: str
    approve_rate: float = 0.6
    misleading: float = 0.0  # share of candidates on which every judge votes as if the truth were the opposite
    invalid: float = 0.0  # probability that a vote is invalid


PANELS = {p.name: p for p in (Panel("independent"), Panel("correlated errors", misleading=0.15),
                                 Panel("30% approve", approve_rate=0.3), Panel("10% invalid votes", invalid=0.1),
                                 Panel("all three", approve_rate=0.3, misleading=0.15, invalid=0.1))}


@dataclass(frozen=True)
class Outcome:
    labels: int
    approved: int
    precision: float  # of the approved set (auto-accepted + approved by a human) against the ground truth
    yield_: float  # good candidates that end approved, of all good ones
    good_discarded: float  # good candidates routed to discard (no human saw them), of all good ones
    covered: float = float("nan")  # share of the candidates the posterior routed that no human saw
    fits: int = 0
    capped: int = 0  # EM fits that stopped at their iteration cap


def simulate(seed: int, n: int, panel: Panel) -> tuple[list[dict[str, bool | None]], np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < panel.approve_rate
    seen = truth ^ (rng.random(n) < panel.misleading)  # what the judges vote on: the truth, or its opposite
    draws = rng.random((n, len(JUDGES)))
    invalid = rng.random((n, len(JUDGES))) < panel.invalid
    votes: list[dict[str, bool | None]] = [
        {judge: None if invalid[i, j] else bool(draws[i, j] < (se if seen[i] else 1 - sp))
         for j, (judge, (se, sp)) in enumerate(JUDGES.items())} for i in range(n)]
    return votes, truth


def outcome(routes: list[str], truth: np.ndarray, **extra: float) -> Outcome:
    """A human route ends approved exactly when the truth says so (a perfect reviewer)."""
    approved = [i for i, r in enumerate(routes) if r == "auto_accepted" or (r == "needs_review" and truth[i])]
    good = max(int(truth.sum()), 1)
    lost = sum(1 for i, r in enumerate(routes) if r == "discarded" and truth[i])
    return Outcome(routes.count("needs_review"), len(approved),
                   float(np.mean(truth[approved])) if approved else float("nan"),
                   float(truth[approved].sum()) / good, lost / good, **extra)  # type: ignore[arg-type]


def votes_arm(votes: list[dict[str, bool | None]], truth: np.ndarray) -> Outcome:
    return outcome([route_for(sum(v is True for v in row.values())) for row in votes], truth)


def posterior_arm(votes: list[dict[str, bool | None]], truth: np.ndarray, precision: float, batch: int,
                  audit: float) -> Outcome:
    """Route `batch` candidates per `augment route` call, as the app is used: by votes while the posterior policy is
    not ready, then by the posterior refitted on every call on all verdicts so far."""
    routes: list[str] = []
    verdicts: list[bool | None] = []
    by_posterior = fits = capped = 0
    for start in range(0, len(votes), batch):
        seen = votes[:start + batch]
        judged = [JudgedCandidate(i + 1, "generated", row, verdicts[i] if i < start else None)
                  for i, row in enumerate(seen)]
        try:
            rule: PosteriorRule | None = posterior_rule(judged, precision)
        except PolicyNotReady:
            rule = None
        posterior: tuple[float, ...] = ()
        if rule is not None:
            model = fit_judges([c.votes for c in judged], [c.verdict for c in judged])
            posterior, fits, capped = model.posterior, fits + 1, capped + (not model.converged)
        for i in range(start, len(seen)):
            if rule is None:
                route = route_for(sum(v is True for v in votes[i].values()))
            else:
                route, by_posterior = rule.route(posterior[i]), by_posterior + 1
                route = "needs_review" if route != "needs_review" and audited(i + 1, audit) else route
            routes.append(route)
            verdicts.append(bool(truth[i]) if route == "needs_review" else None)
    later = routes[len(routes) - by_posterior:]
    return outcome(routes, truth, covered=1 - later.count("needs_review") / by_posterior if by_posterior
                   else float("nan"), fits=fits, capped=capped)


def bootstrap(values: list[float], seed: int = 0, rounds: int = 2000) -> tuple[float, float, float]:
    data = np.asarray(values, dtype=float)
    means = np.random.default_rng(seed).choice(data, size=(rounds, len(data))).mean(axis=1)
    return float(data.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def show(name: str, values: list[float], percent: bool = True) -> str:
    mean, lo, hi = bootstrap(values)
    scale, unit = (100.0, "%") if percent else (1.0, "")
    return f"{name}: {mean * scale:.1f}{unit} [{lo * scale:.1f}{unit}, {hi * scale:.1f}{unit}]"


def database_figures() -> None:
    from sqlalchemy import select

    from db.cli_support import cli_session_factory
    from db.models import Dataset
    from db.queries.candidates import judged_candidates

    with cli_session_factory()() as session:
        for dataset in session.scalars(select(Dataset.name).order_by(Dataset.name)):
            judged = judged_candidates(session, dataset)
            for stated in (0.90, 0.95):
                try:
                    rule = posterior_rule(judged, stated)
                except PolicyNotReady as exc:
                    print(f"database {dataset}: {exc}")
                    break
                cut = rule.accept
                print(f"database {dataset} at {stated:.2f}: {rule.decided} decided; auto-accept cut "
                      f"{'none' if cut.at is None else f'{cut.at:.3f}'}, {cut.precision:.1%} on {cut.tasks} "
                      f"[{cut.interval[0]:.1%}, {cut.interval[1]:.1%}]")


def mean(arm: list[Outcome], field: str) -> float:
    return float(np.mean([getattr(o, field) for o in arm]))


def say_em(panel: Panel, outcomes: list[Outcome]) -> None:
    fits, capped = sum(o.fits for o in outcomes), sum(o.capped for o in outcomes)
    print(f"[{panel.name}] EM: " + (f"stopped at its iteration cap in {capped} of {fits} fits (their posteriors are "
                                    "the last iterate)" if capped else f"converged in all {fits} fits"))


def run_panel(panel: Panel, args: argparse.Namespace) -> tuple[str, str]:
    """Tune the stated precision on the tuning seeds, report on the others -> (the panel's summary line, its labels
    saved as `NN% [lo%, hi%]` or `none (why)`)."""
    tune_votes = [votes_arm(*simulate(seed, args.candidates, panel)) for seed in range(args.tune_seeds)]
    tune_target = mean(tune_votes, "precision")
    tuned: dict[float, list[Outcome]] = {q: [] for q in GRID}
    for seed in range(args.tune_seeds):
        votes, truth = simulate(seed, args.candidates, panel)
        for stated in GRID:
            tuned[stated].append(posterior_arm(votes, truth, stated, args.batch, args.audit))
    matched = [q for q in GRID if mean(tuned[q], "precision") >= tune_target]
    print(f"[{panel.name}] tuning seeds 0-{args.tune_seeds - 1}: votes precision {tune_target:.1%}; posterior "
          + ", ".join(f"{q:.2f}: {mean(tuned[q], 'precision'):.1%} with {mean(tuned[q], 'labels'):.0f} labels"
                      for q in GRID))
    if not matched:
        say_em(panel, [o for arm in tuned.values() for o in arm])
        print(f"[{panel.name}] no stated precision reached the votes arm's {tune_target:.1%} on the tuning seeds: "
              "the posterior policy saves nothing here at equal precision")
        why = f"no stated precision in {GRID[0]:.2f}-{GRID[-1]:.2f} reached the votes arm's {tune_target:.1%}"
        return f"{panel.name}: saves nothing ({why})", f"none ({why})"
    stated = min(matched, key=lambda q: mean(tuned[q], "labels"))
    seeds = range(REPORT_SEED_BASE, REPORT_SEED_BASE + args.seeds)
    fixed: list[Outcome] = []
    learned: list[Outcome] = []
    for seed in seeds:
        votes, truth = simulate(seed, args.candidates, panel)
        fixed.append(votes_arm(votes, truth))
        learned.append(posterior_arm(votes, truth, stated, args.batch, args.audit))
    print(f"[{panel.name}] reported seeds {seeds[0]}-{seeds[-1]}, stated precision {stated:.2f} (chosen on the "
          "tuning seeds)")
    for name, arm in (("votes", fixed), (f"posterior {stated:.2f}", learned)):
        print(f"[{panel.name}] {name}: " + show("human labels", [o.labels for o in arm], percent=False) + "; "
              + show("approved-set precision", [o.precision for o in arm]) + "; "
              + show("yield", [o.yield_ for o in arm]) + "; "
              + show("good discarded", [o.good_discarded for o in arm])
              + ("; " + show("coverage once ready", [o.covered for o in arm]) if arm is learned else ""))
    say_em(panel, [o for arm in tuned.values() for o in arm] + learned)
    saved_mean, lo, hi = bootstrap([1 - post.labels / vote.labels for post, vote in zip(learned, fixed, strict=True)])
    gap = mean(learned, "precision") - mean(fixed, "precision")
    held = "held" if gap >= 0 else f"short by {-gap * 100:.1f} points"
    saved = f"{saved_mean * 100:.0f}% [{lo * 100:.0f}%, {hi * 100:.0f}%]"
    return (f"{panel.name}: labels saved {saved} at stated "
            f"{stated:.2f}; precision {mean(learned, 'precision'):.1%} vs {mean(fixed, 'precision'):.1%} ({held}); "
            f"good discarded {mean(learned, 'good_discarded'):.1%} vs {mean(fixed, 'good_discarded'):.1%}"), saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="Reported seeds (from 1000).")
    parser.add_argument("--tune-seeds", type=int, default=5, help="Seeds the stated precision is chosen on (from 0).")
    parser.add_argument("--candidates", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=500, help="Candidates per `augment route` call.")
    parser.add_argument("--audit", type=float, default=0.02, help="AUGMENT_ROUTE_AUDIT's default.")
    parser.add_argument("--panels", default=",".join(PANELS), help=f"Comma-separated, of: {', '.join(PANELS)}.")
    parser.add_argument("--database", action="store_true", help="Also the review data in DATABASE_URL.")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.panels.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in PANELS]
    if unknown or not chosen:
        parser.error(f"--panels: unknown panel {', '.join(unknown) or '(none given)'}; choose from {', '.join(PANELS)}")
    print(f"simulated panels: {args.candidates} candidates x {args.seeds} reported seeds ({args.tune_seeds} tuning "
          "seeds), judges " + ", ".join(f"{j} ({se:.2f}, {sp:.2f})" for j, (se, sp) in JUDGES.items())
          + f"; routed {args.batch} per call, audit {args.audit:.0%}, perfect reviewers")
    results = [run_panel(PANELS[name], args) for name in chosen]
    if args.database:
        database_figures()
    print("summary (posterior vs votes, at equal precision chosen on the tuning seeds):")
    for line, _ in results:
        print(f"  {line}")
    print(f"labels saved at equal precision: {results[0][1]} ({chosen[0]} panel)")


if __name__ == "__main__":
    main()
