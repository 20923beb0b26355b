"""What evaluation is fed: the full catalog, train-only tiers, merged turns, the dataset's own validation split."""
from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from db.settings import get_settings
from db.types import Dialogue, Turn
from tests.factories import make_conversation, make_dataset, make_movie
from trainer.data import ItemCatalog, load_rec_data, merge_turns, samples_from_dialogue


def test_consecutive_messages_of_one_sender_become_one_turn() -> None:
    turns = [Turn(role="seeker", text="hi", movie_ids=()), Turn(role="seeker", text="I like A", movie_ids=(1,)),
             Turn(role="recommender", text="try B", movie_ids=(2,)), Turn(role="recommender", text="or A", movie_ids=(1, 2))]
    assert merge_turns(turns) == [Turn(role="seeker", text="hi I like A", movie_ids=(1,)),
                                  Turn(role="recommender", text="try B or A", movie_ids=(2, 1))]
    catalog = ItemCatalog([1, 2], ["A", "B"], ["A", "B"], ["head", None])
    raw = Dialogue(external_id="x", dataset="t", split="test", turns=tuple(turns))
    merged = Dialogue(external_id="y", dataset="t", split="test", turns=tuple(merge_turns(turns)))
    rows = [(s.context, s.target, s.context_items) for s in samples_from_dialogue(raw, catalog, 8)]
    assert rows == [(s.context, s.target, s.context_items) for s in samples_from_dialogue(merged, catalog, 8)]
    assert rows == [("Seeker: hi I like A", 1, (0,)), ("Seeker: hi I like A", 0, (0,))]  # B, then the repeat A


def build(session: Session) -> dict[str, int]:
    ds = make_dataset(session, "cat")
    movies = {k: make_movie(session, ds, k, f"Film {k} (2000)") for k in ("a", "b", "only_test", "never")}
    for i in range(3):
        make_conversation(session, ds, f"tr{i}", [("seeker", "hello", []), ("recommender", "a!", [movies["a"]])])
    make_conversation(session, ds, "tr-b", [("seeker", "hm", []), ("recommender", "b!", [movies["b"]])])
    make_conversation(session, ds, "dev", [("seeker", "hey", []), ("recommender", "b?", [movies["b"]])], split="dev")
    make_conversation(session, ds, "te", [("seeker", "so", []), ("recommender", "x", [movies["only_test"]])],
                      split="test")
    session.commit()
    return {k: m.id for k, m in movies.items()}


def test_catalog_is_every_movie_and_tiers_come_from_train_only(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = build(session)
    data = load_rec_data(session, "cat", ["train"], ["test"], valid_splits=["dev"])
    catalog = data.catalog
    assert sorted(catalog.movie_ids) == sorted(ids.values())  # 'never' (no mention anywhere) is ranked too
    tiers = dict(zip(catalog.movie_ids, catalog.tiers, strict=True))
    assert tiers[ids["only_test"]] is None and tiers[ids["never"]] is None  # unseen in train: no train tier
    assert tiers[ids["a"]] == "body" and tiers[ids["b"]] == "tail"  # 3 and 1 train mentions
    corpus = dict(zip(catalog.movie_ids, catalog.corpus_tiers, strict=True))
    assert corpus[ids["only_test"]] == "tail" and corpus[ids["b"]] == "body"  # the paper's count includes dev/test
    masks = catalog.tier_masks()
    assert masks["unseen"][catalog.index[ids["only_test"]]] and masks["tail"][catalog.index[ids["only_test"]]]
    assert len(data.valid) == 1 and len(data.train) == 4 and len(data.test) == 1  # dev is the validation split
    monkeypatch.setenv("LUMICRS_HEAD_MIN", "3")
    get_settings.cache_clear()
    try:
        relaxed = load_rec_data(session, "cat", ["train"], ["test"], valid_splits=["dev"]).catalog
    finally:
        get_settings.cache_clear()
    assert dict(zip(relaxed.movie_ids, relaxed.tiers, strict=True))[ids["a"]] == "head"  # the setting is honoured
