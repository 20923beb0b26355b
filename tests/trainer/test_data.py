"""What evaluation is fed: the full catalog, train-only tiers, merged turns, the dataset's own validation split."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from db.settings import get_settings
from db.types import Dialogue, Turn, merge_turns
from tests.factories import make_conversation, make_dataset, make_movie
from trainer.data import ItemCatalog, load_rec_data, samples_from_dialogue


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


def test_augment_ratio_takes_at_most_rho_times_the_original_dialogues(session: Session, tmp_path: object) -> None:
    from pathlib import Path

    from annotator.export import export_approved
    from db.models import Candidate, Conversation, Prototype
    from db.queries.review import get_or_create_reviewer

    ids = build(session)
    conv = session.query(Conversation).filter_by(external_id="tr-b").one()
    proto = Prototype(movie_id=ids["b"], conversation_id=conv.id, tier="tail", score=0.5, weights={})
    session.add(proto)
    session.flush()
    session.add_all(Candidate(prototype_id=proto.id, movie_id=ids["b"], tier="tail", generator="g", sample_index=i,
                              prompt_hash="0" * 64, params={}, status="auto_accepted", pass_votes=5,
                              turns=[{"role": "seeker", "text": f"hm #{i}"},
                                     {"role": "recommender", "text": "Film b (2000) then", "movie_ids": [ids["b"]]}])
                    for i in range(6))
    path = export_approved(session, "cat", "cat-aug", get_or_create_reviewer(session, "boss", "lead"),
                           Path(str(tmp_path))).path
    session.commit()

    def train_rows(ratio: float | None) -> int:
        return len(load_rec_data(session, "cat", ["train"], ["test"], valid_splits=["dev"], exports=[Path(path)],
                                 augment_ratio=ratio).train)

    assert train_rows(None) == 4 + 6  # every approved dialogue
    assert train_rows(0.5) == 4 + 2  # rho x 4 original train dialogues
    assert train_rows(2.0) == 4 + 6  # fewer than rho allows: all of them


def test_s1_support_sets_are_seen_again_each_epoch_and_never_in_validation(session: Session) -> None:
    """LumiCRS's S_1: the body/tail prototypes' conversations and their support sets; a head prototype's are not."""
    from db.models import Conversation, Prototype, SupportExample
    from trainer.data import support_set_conversations

    ids = build(session)
    conv = {c.external_id: c.id for c in session.query(Conversation)}
    tail = Prototype(movie_id=ids["b"], conversation_id=conv["tr-b"], tier="tail", score=0.5, weights={})
    head = Prototype(movie_id=ids["a"], conversation_id=conv["tr1"], tier="head", score=0.5, weights={})
    session.add_all([tail, head])
    session.flush()
    session.add_all([SupportExample(prototype_id=tail.id, conversation_id=conv["tr0"], rank=1, similarity=0.9),
                     SupportExample(prototype_id=tail.id, conversation_id=conv["dev"], rank=2, similarity=0.8),
                     SupportExample(prototype_id=head.id, conversation_id=conv["tr2"], rank=1, similarity=0.9)])
    session.commit()
    assert support_set_conversations(session, "cat") == {conv["tr-b"], conv["tr0"], conv["dev"]}

    def train_conversations(repeat: int) -> list[int]:
        data = load_rec_data(session, "cat", ["train"], ["test"], valid_splits=["dev"], support_set_repeat=repeat)
        assert [s.conversation_id for s in data.valid] == [conv["dev"]]  # validation rows are never repeated
        return sorted(s.conversation_id for s in data.train)

    assert train_conversations(0) == sorted(conv[k] for k in ("tr0", "tr1", "tr2", "tr-b"))
    assert train_conversations(2) == sorted([conv["tr1"], conv["tr2"]] + [conv["tr0"], conv["tr-b"]] * 3)


def test_the_config_passes_support_set_repeat_to_the_data_and_it_is_off_by_default(session_factory: Any) -> None:
    from db.models import Conversation, Prototype
    from trainer.config import TrainConfig
    from trainer.run import load_data

    with session_factory() as session:
        ids = build(session)
        conv = session.query(Conversation).filter_by(external_id="tr-b").one().id
        session.add(Prototype(movie_id=ids["b"], conversation_id=conv, tier="tail", score=0.5, weights={}))
        session.commit()
    assert TrainConfig(name="x").support_set_repeat == 0  # off unless a config asks for it

    def rows_of(repeat: int) -> int:
        cfg = TrainConfig(name="x", dataset="cat", valid_splits=("dev",), support_set_repeat=repeat)
        return sum(s.conversation_id == conv for s in load_data(session_factory, cfg).train)

    assert (rows_of(0), rows_of(2)) == (1, 3)  # the prototype's conversation, seen 1 + repeat times


def test_seeker_targets_add_training_rows_only(session: Session) -> None:
    """With seeker_targets the movies seekers name become training targets; validation (held-out train
    conversations) and test rows stay recommender turns, and no held-out conversation trains."""
    ds = make_dataset(session, "seek")
    a, b, c = (make_movie(session, ds, k, f"Film {k} (2000)") for k in "abc")
    for i in range(10):
        make_conversation(session, ds, f"tr{i}", [("seeker", "hi", []), ("recommender", "what do you like?", []),
                                                 ("seeker", "I loved a", [a]), ("recommender", "then b", [b]),
                                                 ("seeker", "and c?", [c])])
    make_conversation(session, ds, "te", [("seeker", "hi", []), ("recommender", "so?", []),
                                          ("seeker", "a was good", [a]), ("recommender", "b", [b])], split="test")
    session.commit()
    plain = load_rec_data(session, "seek", ["train"], ["test"], valid_fraction=0.2)
    seeker = load_rec_data(session, "seek", ["train"], ["test"], valid_fraction=0.2, seeker_targets=True)
    index = plain.catalog.index
    assert {s.target for s in plain.train} == {index[b.id]}
    assert len(plain.train) == 8 and len(seeker.train) == 8 * 3  # a, b and c from each training conversation
    assert {s.target for s in seeker.train} == {index[a.id], index[b.id], index[c.id]}
    assert seeker.valid == plain.valid and seeker.test == plain.test  # evaluation rows never change
    assert {s.conversation_id for s in seeker.train}.isdisjoint({s.conversation_id for s in seeker.valid})


def test_the_config_passes_seeker_targets_and_the_repeat_gate_through_and_both_are_off_by_default(
        session_factory: Any) -> None:
    import numpy as np

    from trainer.config import TrainConfig
    from trainer.run import build_model, load_data

    with session_factory() as session:
        ds = make_dataset(session, "seek")
        a, b = (make_movie(session, ds, k, f"Film {k} (2000)") for k in "ab")
        make_conversation(session, ds, "tr", [("seeker", "hi", []), ("recommender", "what do you like?", []),
                                              ("seeker", "I loved a", [a]), ("recommender", "then b", [b])])
        make_conversation(session, ds, "dev", [("seeker", "hi", []), ("recommender", "b", [b])], split="dev")
        session.commit()
    default = TrainConfig(name="x", dataset="seek", valid_splits=("dev",), n_prototypes=0)
    assert (default.seeker_targets, default.repeat_gate) == (False, False)
    on = default.model_copy(update={"seeker_targets": True, "repeat_gate": True})
    assert (len(load_data(session_factory, default).train), len(load_data(session_factory, on).train)) == (1, 2)
    data = load_data(session_factory, default)
    vectors = np.zeros((len(data.catalog), 4), dtype=np.float32)
    assert getattr(build_model(default, data, vectors, 4), "repeat") is None
    assert getattr(build_model(on, data, vectors, 4), "repeat") is not None


def test_rho_counts_original_dialogues_not_their_samples(session: Session, tmp_path: object) -> None:
    """rho x the original training dialogues (not their samples): four dialogues of two samples each and rho 0.5
    take 2 augmented dialogues, not 4."""
    from pathlib import Path

    from annotator.export import export_approved
    from db.models import Candidate, Prototype
    from db.queries.review import get_or_create_reviewer

    ds = make_dataset(session, "two")
    a, b = make_movie(session, ds, "a", "Film a (2000)"), make_movie(session, ds, "b", "Film b (2001)")
    convs = [make_conversation(session, ds, f"t{i}", [("seeker", "hi", []), ("recommender", "a!", [a]),
                                                       ("seeker", "more", []), ("recommender", "b!", [b])])
             for i in range(4)]
    make_conversation(session, ds, "d", [("seeker", "hey", []), ("recommender", "b?", [b])], split="dev")
    make_conversation(session, ds, "e", [("seeker", "so", []), ("recommender", "a", [a])], split="test")
    proto = Prototype(movie_id=b.id, conversation_id=convs[0].id, tier="tail", score=0.5, weights={})
    session.add(proto)
    session.flush()
    session.add_all(Candidate(prototype_id=proto.id, movie_id=b.id, tier="tail", generator="g", sample_index=i,
                              prompt_hash="0" * 64, params={}, status="auto_accepted", pass_votes=5,
                              turns=[{"role": "seeker", "text": f"hm #{i}"},
                                     {"role": "recommender", "text": "Film b (2001) then", "movie_ids": [b.id]}])
                    for i in range(6))
    path = export_approved(session, "two", "two-aug", get_or_create_reviewer(session, "boss", "lead"),
                           Path(str(tmp_path))).path
    session.commit()
    data = load_rec_data(session, "two", ["train"], ["test"], valid_splits=["dev"], exports=[Path(path)],
                         augment_ratio=0.5)
    assert len(data.train) == 4 * 2 + 2  # 8 original samples, then 0.5 x 4 dialogues of one sample each


def test_the_two_stage_scorer_setting_picks_whose_relevance_labels_train(
        session: Session, session_factory: sessionmaker[Session], tmp_path: object) -> None:
    """`two_stage.scorer` reaches the data: with a scorer named, only its labels (>= min_relevance) become soft
    targets; None takes every scorer's."""
    from pathlib import Path

    from db.models import Conversation, RelevanceLabel
    from trainer.config import load_config
    from trainer.run import load_data

    ids = build(session)
    conv = session.query(Conversation).filter_by(external_id="tr0").one()
    session.add_all([RelevanceLabel(conversation_id=conv.id, turn_position=1, movie_id=ids["b"], scorer="local-kg",
                                    score=4.0, retrieval_rank=1),
                     RelevanceLabel(conversation_id=conv.id, turn_position=1, movie_id=ids["never"], scorer="judge-1",
                                    score=3.5, retrieval_rank=2)])
    session.commit()
    config = Path(str(tmp_path)) / "c.yaml"

    def soft_items(scorer: str | None) -> set[int]:
        config.write_text(f"name: t\ndataset: cat\nvalid_splits: [dev]\nloss: ce_kl\n"
                          f"two_stage:\n  enabled: true\n  scorer: {scorer if scorer else 'null'}\n")
        data = load_data(session_factory, load_config(config))
        return {data.catalog.movie_ids[i] for q in data.train_soft if q for i in q}

    assert soft_items("local-kg") == {ids["a"], ids["b"]}  # the gold item and local-kg's label
    assert soft_items("judge-1") == {ids["a"], ids["never"]}
    assert soft_items(None) == {ids["a"], ids["b"], ids["never"]}
