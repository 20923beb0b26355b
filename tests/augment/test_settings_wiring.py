"""The settings defaults are the papers' values, and the CLI hands the settings to the rules it calls."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from augment.settings import AugmentSettings
from augment.settings import get_settings as augment_settings
from db.models import Candidate, ReviewTask
from db.settings import DatabaseSettings
from lumicrs_cli import app
from tests.augment.test_routing_rule import judged_candidates

PAPER_ENV = ("AUGMENT_ACCEPT_MIN_VOTES", "AUGMENT_REVIEW_MIN_VOTES", "AUGMENT_DUPLICATE_THRESHOLD",
             "AUGMENT_JUDGE_MIN_SCORE", "AUGMENT_REVIEW_OVERLAP", "AUGMENT_TAIL_DIALOGUES", "AUGMENT_BODY_DIALOGUES",
             "AUGMENT_TEMPERATURE", "LUMICRS_HEAD_MIN", "LUMICRS_TAIL_MAX")



def route_with_env(monkeypatch: pytest.MonkeyPatch, **env: str) -> Result:
    """`lumicrs augment route --dataset toy --json` with these AUGMENT_* variables set (the settings re-read)."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    augment_settings.cache_clear()
    try:
        return CliRunner().invoke(app, ["augment", "route", "--dataset", "toy", "--json"])
    finally:
        augment_settings.cache_clear()

def test_defaults_are_the_papers(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in PAPER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))  # no .env
    augment = AugmentSettings()
    assert (augment.accept_min_votes, augment.review_min_votes, augment.judge_min_score) == (4, 2, 3)
    assert augment.duplicate_threshold == 0.85 and augment.review_overlap == 1
    assert (augment.tail_dialogues, augment.body_dialogues) == ((8, 10), (4, 5))
    assert len(augment.judges) == 5 and augment.temperature == 0.7
    assert augment.model == "gpt-4o-mini"  # a named departure: the paper's generator is GPT-4o
    assert augment.route_policy == "votes"  # the paper's fixed vote stays the default until verdicts exist
    # prototype selection (README fidelity table): top-5 support sets, the composite weights, the sigmoid's slope
    assert augment.support_k == 5 and augment.interaction_alpha == 1.0
    assert (augment.w_semantic, augment.w_emotional, augment.w_overlap, augment.w_interaction) == (0.4, 0.2, 0.2, 0.2)
    db = DatabaseSettings()
    assert (db.head_min_mentions, db.tail_max_mentions) == (6, 1)


def test_route_uses_the_review_overlap_setting(session_factory: sessionmaker[Session], database_url: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with session_factory() as session:
        ids = judged_candidates(session, [3, 5, 0])  # review, accept, discard
        session.commit()
    result = route_with_env(monkeypatch, AUGMENT_REVIEW_OVERLAP="3", AUGMENT_ACCEPT_MIN_VOTES="5")
    assert result.exit_code == 0, result.output
    with session_factory() as session:
        assert [t.overlap for t in session.scalars(select(ReviewTask))] == [3]
        assert [session.get_one(Candidate, i).status for i in ids] == ["needs_review", "auto_accepted", "discarded"]


def test_route_uses_the_vote_thresholds_settings(session_factory: sessionmaker[Session], database_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with session_factory() as session:
        ids = judged_candidates(session, [3, 4, 5])
        session.commit()
    result = route_with_env(monkeypatch, AUGMENT_REVIEW_MIN_VOTES="4", AUGMENT_ACCEPT_MIN_VOTES="5")
    assert result.exit_code == 0, result.output
    with session_factory() as session:  # 3 votes: below review_min 4, so discarded (2 would have sent it to review)
        assert [session.get_one(Candidate, i).status for i in ids] == ["discarded", "needs_review", "auto_accepted"]
