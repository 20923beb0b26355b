"""The posterior routing policy on the database (both backends): cuts chosen on human-decided candidates, every
route refreshes the stored posteriors, too few verdicts refuse with one line and write nothing."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from augment.routing import PolicyNotReady, route_candidates
from calibration.judge_model import fit_judges
from db.models import Candidate, JudgeVote, ReviewTask
from db.queries.candidates import judged_candidates
from lumicrs_cli import app
from tests.augment.test_settings_wiring import route_with_env
from tests.factories import make_judged_panel as make_panel


def test_too_few_verdicts_refuse_in_one_line_and_route_nothing(session: Session) -> None:
    new, _ = make_panel(session, decided=49, new=10)
    with pytest.raises(PolicyNotReady) as error:
        route_candidates(session, "toy", 5, policy="posterior")
    assert "needs 50 human-decided candidates" in str(error.value) and "\n" not in str(error.value)
    assert {session.get_one(Candidate, i).status for i in new} == {"generated"}
    assert route_candidates(session, "toy", 5).decided == 49  # the votes policy still routes, and counts them


def test_posterior_policy_routes_by_cuts_that_hold_the_precision(session: Session) -> None:
    new, truth = make_panel(session, decided=200, new=150, seed=1)
    summary = route_candidates(session, "toy", 5, policy="posterior", precision=0.95, audit=0.0)
    rule = summary.rule
    assert rule is not None and rule.decided == 200
    assert rule.accept.at is not None and rule.accept.precision >= 0.95 and rule.accept.tasks >= 30
    assert rule.discard.at is not None and rule.discard.precision >= 0.95 and rule.discard.tasks >= 30
    routed = {i: session.get_one(Candidate, i) for i in new}
    for candidate in routed.values():
        posterior = candidate.approve_posterior
        assert posterior is not None
        expected = ("auto_accepted" if posterior >= rule.accept.at else
                    "discarded" if posterior <= rule.discard.at else "needs_review")
        assert candidate.status == expected
    accepted = [truth[i] for i, c in routed.items() if c.status == "auto_accepted"]
    assert len(accepted) > 40 and np.mean(accepted) > 0.9  # against the ground truth the reviewers never saw
    review = {t.candidate_id for t in session.scalars(select(ReviewTask))}
    assert review == {i for i, c in routed.items() if c.status == "needs_review"}
    assert len(review) < sum(2 <= sum_passes(session, i) <= 3 for i in new)  # fewer than the fixed vote sends


def sum_passes(session: Session, candidate_id: int) -> int:
    return sum(v.passed for v in session.scalars(select(JudgeVote).where(JudgeVote.candidate_id == candidate_id)))


def test_every_route_stores_the_posterior_of_every_judged_candidate(session: Session) -> None:
    make_panel(session, decided=60, new=20, seed=2)
    route_candidates(session, "toy", 5)  # the votes policy refreshes the posteriors too
    judged = judged_candidates(session, "toy")
    model = fit_judges([c.votes for c in judged], [c.verdict for c in judged])
    stored = [session.get_one(Candidate, c.id).approve_posterior for c in judged]
    assert stored == pytest.approx(list(model.posterior))
    assert model.weight("judge-0") > 3.0 and abs(model.weight("judge-4")) < 1.0


def test_the_audit_share_sends_sure_candidates_to_review(session: Session) -> None:
    new, _ = make_panel(session, decided=200, new=60, seed=3)
    summary = route_candidates(session, "toy", 5, policy="posterior", audit=1.0)
    assert summary.routed == {"needs_review": 60} and summary.audited > 0
    assert {session.get_one(Candidate, i).status for i in new} == {"needs_review"}


def test_route_cli_prints_the_cuts_or_says_when_the_policy_becomes_usable(
        session_factory: sessionmaker[Session], database_url: str) -> None:
    with session_factory() as session:
        make_panel(session, decided=30, new=10, seed=4)
        session.commit()
    refused = CliRunner().invoke(app, ["augment", "route", "--dataset", "toy", "--policy", "posterior"])
    assert refused.exit_code == 2 and "route with --policy votes until then" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    with session_factory() as session:
        assert session.scalar(select(Candidate.id).where(Candidate.status == "needs_review")) is None
    votes = CliRunner().invoke(app, ["augment", "route", "--dataset", "toy"])
    assert "human_decided" in votes.output
    assert votes.exit_code == 0 and "human-decided candidates with votes: 30 (the posterior policy is usable from 50)" \
        in " ".join(votes.output.split())


def test_two_posterior_routes_at_once_route_every_candidate_once(session_factory: sessionmaker[Session],
                                                                  database_url: str) -> None:
    from sqlalchemy import func

    from tests.db.test_concurrent_cli import run_twice

    with session_factory() as session:
        new, _ = make_panel(session, decided=120, new=80, seed=6)
        session.commit()
    import json

    results = run_twice(database_url, "augment", "route", "--dataset", "toy", "--policy", "posterior", "--json")
    for result in results:  # machine-readable: the cuts and what they were measured on
        payload = json.loads(result.stdout)
        assert payload["human_decided"] == 120 and payload["accept_precision"] >= 0.95 and payload["accept_tasks"] >= 30
    with session_factory() as session:
        statuses = [session.get_one(Candidate, i).status for i in new]
        assert "generated" not in statuses
        tasks = session.execute(select(ReviewTask.candidate_id, func.count()).group_by(ReviewTask.candidate_id)).all()
        assert all(n == 1 for _, n in tasks)  # one review task per candidate, never two
        assert {c for c, _ in tasks} == {i for i, s in zip(new, statuses) if s == "needs_review"}


def test_route_settings_defaults_and_their_pass_through(session_factory: sessionmaker[Session], database_url: str,
                                                        monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from augment.settings import AugmentSettings

    for name in ("AUGMENT_ROUTE_POLICY", "AUGMENT_ROUTE_PRECISION", "AUGMENT_ROUTE_AUDIT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))  # no .env
    defaults = AugmentSettings()
    assert (defaults.route_policy, defaults.route_precision, defaults.route_audit) == ("votes", 0.95, 0.02)
    with session_factory() as session:
        new, _ = make_panel(session, decided=200, new=40, seed=7)
        session.commit()
    # the policy, its precision and audit come from settings
    result = route_with_env(monkeypatch, AUGMENT_ROUTE_POLICY="posterior", AUGMENT_ROUTE_PRECISION="0.9",
                            AUGMENT_ROUTE_AUDIT="1.0")
    assert result.exit_code == 0, result.output
    import json
    payload = json.loads(result.stdout)
    assert payload["needs_review"] == 40 and payload["sent_to_audit"] > 0  # audit 1.0: every sure one to review
    assert payload["stated_precision"] == 0.9 and payload["accept_precision"] >= 0.9  # the posterior policy ran
