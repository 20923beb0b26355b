from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from db.queries.longtail import TierThresholds, assign_tiers, longtail_summary, movie_mention_counts, summarise_tiers
from tests.factories import make_conversation, make_dataset, make_movie


def test_tiers_follow_thresholds() -> None:
    counts = {1: 6, 2: 5, 3: 2, 4: 1, 5: 0, 6: 40}
    assert assign_tiers(counts, TierThresholds()) == {1: "head", 2: "body", 3: "body", 4: "tail", 6: "head"}
    assert assign_tiers(counts, TierThresholds(head_min=3, tail_max=2))[3] == "tail"


def test_invalid_thresholds_rejected() -> None:
    with pytest.raises(ValueError, match="tail_max < head_min"):
        TierThresholds(head_min=2, tail_max=2)


def test_shares_hand_computed() -> None:
    # head: 10 + 6 = 16 mentions, body: 3, tail: 1 + 1 -> 21 mentions, 5 titles
    summary = summarise_tiers("x", "corpus", {1: 10, 2: 6, 3: 3, 4: 1, 5: 1}, TierThresholds())
    shares = {t.tier: (t.titles, round(t.title_share, 4), t.mentions, round(t.mention_share, 4)) for t in summary.tiers}
    assert shares == {"head": (2, 0.4, 16, round(16 / 21, 4)), "body": (1, 0.2, 3, round(3 / 21, 4)),
                      "tail": (2, 0.4, 2, round(2 / 21, 4))}


def test_summary_counts_utterance_mentions(session: Session) -> None:
    ds = make_dataset(session)
    a, b = make_movie(session, ds, "a"), make_movie(session, ds, "b")
    for i in range(6):
        make_conversation(session, ds, f"c{i}", [("seeker", "x", [a]), ("recommender", "y", [b] if i < 2 else [])])
    summary = longtail_summary(session, "toy")
    assert {t.tier: t.titles for t in summary.tiers} == {"head": 1, "body": 1, "tail": 0}
    assert summary.total_mentions == 8


def test_popularity_counts_every_mention_not_every_conversation(session: Session) -> None:
    """pop(m) counts training samples mentioning m: a movie named in two turns of one conversation counts 2."""
    ds = make_dataset(session)
    a, b = make_movie(session, ds, "a"), make_movie(session, ds, "b")
    make_conversation(session, ds, "c0", [("seeker", "a?", [a]), ("recommender", "a!", [a]), ("seeker", "b", [b])])
    make_conversation(session, ds, "c1", [("seeker", "a", [a])])
    assert movie_mention_counts(session, "toy", splits=("train",)) == {a.id: 3, b.id: 1}
