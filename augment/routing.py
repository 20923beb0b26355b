"""Route judged candidates to auto-accept, human review or discard.

Two policies:
- votes (the paper's rule, the default): >= accept_min passes auto-accept, >= review_min human review, else discard;
- posterior: calibration.judge_model's P(a reviewer approves | votes), fitted on every judged candidate with the human
  verdicts as labels. Auto-accept where the posterior is at or above the cut whose human-decided candidates were
  approved at >= the stated precision (cross-fitted, on at least MIN_TASKS of them); discard symmetrically (the
  rejected share at or below the discard cut); the rest go to review. Usable once MIN_DECIDED candidates were decided
  by humans, both ways. An `audit` share of the candidates it would decide alone goes to review anyway, so that the
  human-decided set keeps covering the confident cases the thresholds are chosen on.

Every route refreshes each judged candidate's stored posterior (the uncertain-first review queue reads it).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from calibration.judge_model import (
    MIN_DECIDED,
    MIN_TASKS,
    JudgeModel,
    Threshold,
    choose_threshold,
    cross_fitted_posteriors,
    fit_judges,
)
from db.models import Candidate, ReviewTask
from db.queries.candidates import JudgedCandidate, candidates_in, judged_candidates

POLICIES = ("votes", "posterior")


class PolicyNotReady(ValueError):
    """The posterior policy has too few human verdicts to choose its thresholds."""


@dataclass(frozen=True)
class PosteriorRule:
    precision: float
    accept: Threshold
    discard: Threshold
    decided: int

    def route(self, posterior: float) -> str:
        if self.accept.at is not None and posterior >= self.accept.at:
            return "auto_accepted"
        if self.discard.at is not None and posterior <= self.discard.at:
            return "discarded"
        return "needs_review"


@dataclass(frozen=True)
class RouteSummary:
    routed: dict[str, int]
    waiting_for_votes: int
    policy: str = "votes"
    rule: PosteriorRule | None = None
    decided: int = 0  # human-decided candidates with votes (what the posterior policy learns from)
    audited: int = 0  # sent to review by the audit share although the posterior policy was sure
    cap_message: str | None = None  # the judge model's EM stopped at its iteration cap


def route_for(passes: int, accept_min: int = 4, review_min: int = 2) -> str:
    if passes >= accept_min:
        return "auto_accepted"
    if passes >= review_min:
        return "needs_review"
    return "discarded"


def decided_count(judged: list[JudgedCandidate]) -> int:
    return sum(c.verdict is not None for c in judged)


def posterior_rule(judged: list[JudgedCandidate], precision: float, *, min_decided: int = MIN_DECIDED,
                   min_tasks: int = MIN_TASKS, seed: int = 0) -> PosteriorRule:
    """The accept and discard cuts chosen on the human-decided candidates (cross-fitted posteriors)."""
    if not 0.5 < precision < 1.0:
        raise ValueError(f"--precision must be between 0.5 and 1 (exclusive), got {precision}")
    verdicts = [c.verdict for c in judged]
    approved = sum(v is True for v in verdicts)
    rejected = sum(v is False for v in verdicts)
    if approved + rejected < min_decided or not approved or not rejected:
        raise PolicyNotReady(
            f"the posterior policy needs {min_decided} human-decided candidates with judge votes, approved and "
            f"rejected both present; this dataset has {approved + rejected} ({approved} approved, {rejected} "
            f"rejected): route with --policy votes until then")
    held_out = cross_fitted_posteriors([c.votes for c in judged], verdicts, seed=seed)
    rows = [(float(p), bool(v)) for p, v in zip(held_out, verdicts, strict=True) if v is not None]
    posteriors, labels = [p for p, _ in rows], [v for _, v in rows]
    return PosteriorRule(precision, choose_threshold(posteriors, labels, precision, side="accept", min_tasks=min_tasks),
                         choose_threshold(posteriors, labels, precision, side="discard", min_tasks=min_tasks),
                         len(rows))


def store_posteriors(session: Session, judged: list[JudgedCandidate]) -> JudgeModel | None:
    """Fit the judge model on every judged candidate and store each one's votes-only posterior."""
    if not judged:
        return None
    model = fit_judges([c.votes for c in judged], [c.verdict for c in judged])
    posterior_of = dict(zip((c.id for c in judged), model.posterior, strict=True))
    for candidate in session.scalars(select(Candidate).where(Candidate.id.in_(posterior_of)).order_by(Candidate.id)):
        candidate.approve_posterior = posterior_of[candidate.id]
    session.flush()
    return model


def audited(candidate_id: int, share: float) -> bool:
    """A fixed pseudo-random `share` of candidate ids (the same ids on every run)."""
    return (candidate_id * 2654435761) % 2**32 < share * 2**32


def route_candidates(session: Session, dataset: str, n_judges: int, *, accept_min: int = 4, review_min: int = 2,
                     overlap: int = 1, limit: int | None = None, policy: str = "votes", precision: float = 0.95,
                     audit: float = 0.0, min_decided: int = MIN_DECIDED, min_tasks: int = MIN_TASKS) -> RouteSummary:
    """Route every filtered candidate that has all n_judges votes (at most `limit` of them) under `policy`."""
    if policy not in POLICIES:
        raise ValueError(f"--policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    judged = judged_candidates(session, dataset)
    rule = posterior_rule(judged, precision, min_decided=min_decided, min_tasks=min_tasks) \
        if policy == "posterior" else None
    model = store_posteriors(session, judged)
    candidates = list(session.scalars(candidates_in(dataset, "generated")
                                      .where(Candidate.similarity_to_prototype.is_not(None)).limit(limit)))
    votes = {c.id: c.votes for c in judged}  # every vote, invalid ones included, read once
    tallies = {i: len(v) for i, v in votes.items()}
    passes = {i: sum(p is True for p in v.values()) for i, v in votes.items()}
    routed: Counter[str] = Counter()
    waiting = sent_to_audit = 0
    for candidate in candidates:
        if tallies.get(candidate.id, 0) < n_judges:
            waiting += 1
            continue
        candidate.pass_votes = int(passes.get(candidate.id, 0))
        if rule is None:
            candidate.status = route_for(candidate.pass_votes, accept_min, review_min)
        else:
            candidate.status = rule.route(candidate.approve_posterior if candidate.approve_posterior is not None
                                          else 0.5)
            if candidate.status != "needs_review" and audited(candidate.id, audit):
                candidate.status, sent_to_audit = "needs_review", sent_to_audit + 1
        routed[candidate.status] += 1
        if candidate.status == "needs_review":
            session.add(ReviewTask(kind="adjudication", candidate_id=candidate.id, overlap=overlap))
    session.flush()
    return RouteSummary(dict(routed), waiting, policy, rule, decided_count(judged), sent_to_audit,
                        model.cap_message() if model is not None else None)


def describe_route(summary: RouteSummary) -> list[str]:
    """What the posterior policy promises (its cuts and the precision measured on human-decided candidates)."""
    rule = summary.rule
    lines = [summary.cap_message] if summary.cap_message else []
    if rule is None:
        ready = "usable now" if summary.decided >= MIN_DECIDED else f"usable from {MIN_DECIDED}"
        return lines + [f"human-decided candidates with votes: {summary.decided} (the posterior policy is {ready})"]
    for side, cut, sign in (("auto-accept", rule.accept, ">="), ("discard", rule.discard, "<=")):
        if cut.at is None:
            lines.append(f"{side}: none (no cut held {rule.precision:.0%} on at least the minimum number of the "
                         f"{rule.decided} human-decided candidates)")
        else:
            lo, hi = cut.interval
            agreed = "approved" if side == "auto-accept" else "rejected"
            lines.append(f"{side} at posterior {sign} {cut.at:.3f}: {cut.precision:.1%} of the {cut.tasks} "
                         f"human-decided candidates there were {agreed} [95% CI {lo:.1%}, {hi:.1%}] (cross-fitted)")
    return lines
