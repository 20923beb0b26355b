"""Human labels needed for the same precision of the approved set: the paper's fixed vote vs the posterior policy.

    python benchmarks/routing.py [--seeds 20] [--candidates 10000] [--batch 500] [--audit 0.02] [--database]

The simulated panel (stated, seeded; a simulated panel is not a real one):
- each candidate is one a reviewer would approve with probability 0.6 (its ground truth);
- five judges with known (sensitivity, specificity): judge-1 (0.90, 0.85), judge-2 (0.85, 0.80), judge-3
  (0.80, 0.70), judge-4 (0.75, 0.55, lenient) and judge-5 (0.50, 0.50: votes at random), independent given the truth;
- reviewers decide as the ground truth says (a perfect reviewer; real ones disagree: the app's verdict agreement).

Arms, on the same candidates and votes per seed:
- votes (the paper): 4-5 passes auto-accept, 2-3 a human, 0-1 discard. Labels = the 2-3 band.
- posterior (augment.routing, the app's code): candidates arrive `--batch` at a time, one `augment route` call each,
  and reviewers decide a call's review band before the next. While fewer than MIN_DECIDED candidates are decided the
  batch is routed by votes (the app refuses the posterior policy then; only the 2-3 band reaches a human); from then
  on every call refits the judge model on all votes with all verdicts so far, chooses the cuts on the decided ones
  (cross-fitted) for a stated precision, and routes the batch by the posterior, the audit share of sure candidates
  to a human. Labels = every candidate a human decided, the votes-routed start included.

Equal precision: the stated precision is swept over GRID; the one compared is the smallest-label setting whose
approved-set precision (auto-accepted + human-approved, against the ground truth), averaged over the seeds, is at
least the votes arm's. One setting for all seeds (never chosen per seed). Labels saved = 1 - posterior labels /
votes labels, per seed. Coverage: the share of the candidates routed by the posterior that no human saw.
Intervals: 95% bootstrap over seeds (of the mean).
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

PANEL = {"judge-1": (0.90, 0.85), "judge-2": (0.85, 0.80), "judge-3": (0.80, 0.70), "judge-4": (0.75, 0.55),
         "judge-5": (0.50, 0.50)}
APPROVE_RATE = 0.6
GRID = (0.90, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98)


@dataclass(frozen=True)
class Outcome:
    labels: int
    approved: int
    precision: float  # of the approved set (auto-accepted + approved by a human) against the ground truth
    covered: float = float("nan")  # share of the candidates the posterior routed that no human saw


def simulate(seed: int, n: int) -> tuple[list[dict[str, bool | None]], np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < APPROVE_RATE
    draws = rng.random((n, len(PANEL)))
    votes = [{judge: bool(draws[i, j] < (se if truth[i] else 1 - sp)) for j, (judge, (se, sp)) in enumerate(PANEL.items())}
             for i in range(n)]
    return votes, truth


def approved_set(routes: list[str], truth: np.ndarray) -> tuple[int, float]:
    """A human route ends approved exactly when the truth says so (a perfect reviewer)."""
    approved = [i for i, r in enumerate(routes) if r == "auto_accepted" or (r == "needs_review" and truth[i])]
    return len(approved), float(np.mean(truth[approved])) if approved else float("nan")


def votes_arm(votes: list[dict[str, bool | None]], truth: np.ndarray) -> Outcome:
    routes = [route_for(sum(bool(v) for v in row.values())) for row in votes]
    size, precision = approved_set(routes, truth)
    return Outcome(routes.count("needs_review"), size, precision)


def posterior_arm(votes: list[dict[str, bool | None]], truth: np.ndarray, precision: float, batch: int,
                  audit: float) -> Outcome:
    """Route `batch` candidates per `augment route` call, as the app is used: by votes while the posterior policy is
    not ready, then by the posterior refitted on every call on all verdicts so far."""
    routes: list[str] = []
    verdicts: list[bool | None] = []
    by_posterior = 0
    for start in range(0, len(votes), batch):
        seen = votes[:start + batch]
        judged = [JudgedCandidate(i + 1, "generated", row, verdicts[i] if i < start else None)
                  for i, row in enumerate(seen)]
        try:
            rule: PosteriorRule | None = posterior_rule(judged, precision)
        except PolicyNotReady:
            rule = None
        posterior = fit_judges([c.votes for c in judged], [c.verdict for c in judged]).posterior if rule else ()
        for i in range(start, len(seen)):
            if rule is None:
                route = route_for(sum(bool(v) for v in votes[i].values()))
            else:
                route, by_posterior = rule.route(posterior[i]), by_posterior + 1
                route = "needs_review" if route != "needs_review" and audited(i + 1, audit) else route
            routes.append(route)
            verdicts.append(bool(truth[i]) if route == "needs_review" else None)
    size, reached = approved_set(routes, truth)
    later = routes[len(routes) - by_posterior:]
    return Outcome(routes.count("needs_review"), size, reached,
                   1 - later.count("needs_review") / by_posterior if by_posterior else float("nan"))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--candidates", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=500, help="Candidates per `augment route` call.")
    parser.add_argument("--audit", type=float, default=0.02, help="AUGMENT_ROUTE_AUDIT's default.")
    parser.add_argument("--database", action="store_true", help="Also the review data in DATABASE_URL.")
    args = parser.parse_args()
    print(f"simulated panel: {args.candidates} candidates x {args.seeds} seeds, approve rate {APPROVE_RATE}, judges "
          + ", ".join(f"{j} ({se:.2f}, {sp:.2f})" for j, (se, sp) in PANEL.items())
          + f"; routed {args.batch} per call, audit {args.audit:.0%}, perfect reviewers")
    fixed: list[Outcome] = []
    learned: dict[float, list[Outcome]] = {q: [] for q in GRID}
    for seed in range(args.seeds):
        votes, truth = simulate(seed, args.candidates)
        fixed.append(votes_arm(votes, truth))
        for stated in GRID:
            learned[stated].append(posterior_arm(votes, truth, stated, args.batch, args.audit))
    target = float(np.mean([o.precision for o in fixed]))
    print(show("votes: human labels", [o.labels for o in fixed], percent=False) + "; "
          + show("approved-set precision", [o.precision for o in fixed]))
    for stated in GRID:
        arm = learned[stated]
        print(f"posterior, stated {stated:.2f}: " + show("human labels", [o.labels for o in arm], percent=False)
              + "; " + show("approved-set precision", [o.precision for o in arm]) + "; "
              + show("coverage once ready", [o.covered for o in arm]))
    matched = [q for q in GRID if np.mean([o.precision for o in learned[q]]) >= target]
    if args.database:
        database_figures()
    if not matched:
        print(f"labels saved at equal precision: none (no stated precision reached the votes arm's {target:.1%})")
        return
    best = min(matched, key=lambda q: np.mean([o.labels for o in learned[q]]))
    saved = [1 - post.labels / vote.labels for post, vote in zip(learned[best], fixed, strict=True)]
    print(f"equal precision: the posterior arm at stated {best:.2f} "
          f"({np.mean([o.precision for o in learned[best]]):.1%} against the votes arm's {target:.1%})")
    mean, lo, hi = bootstrap(saved)
    print(f"labels saved at equal precision: {mean * 100:.0f}% [{lo * 100:.0f}%, {hi * 100:.0f}%]")


if __name__ == "__main__":
    main()
