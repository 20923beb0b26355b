"""The paths around the formulas: what the training loop ranks in the novel protocol, which turns a truncated
context keeps, and whose weight wins in the two-stage soft targets."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from db.types import Dialogue, Turn
from trainer.data import ItemCatalog, RecSample, samples_from_dialogue, soft_targets
from trainer.loop import Features, evaluate_model, rank_items
from trainer.model import PopularityModel


def popularity_features() -> tuple[PopularityModel, Features, ItemCatalog]:
    """Item 0 is the most popular; row 0 already mentioned it and asks for item 1, row 1 asks for item 0 afresh."""
    model = PopularityModel(torch.tensor([50.0, 20.0, 5.0, 1.0]))
    feats = Features(torch.zeros(2, 3), [(0,), ()], torch.tensor([1, 0]), conversations=[1, 2])
    catalog = ItemCatalog([10, 11, 12, 13], list("abcd"), list("abcd"), ["head", "head", "body", "tail"])
    return model, feats, catalog


def test_the_novel_protocol_removes_context_movies_from_the_training_loops_ranking() -> None:
    model, feats, catalog = popularity_features()
    standard = rank_items(model, feats, 4, torch.device("cpu"), k=2)
    novel = rank_items(model, feats, 4, torch.device("cpu"), k=2, exclude_context=True)
    assert standard.tolist() == [[0, 1], [0, 1]]
    assert novel.tolist() == [[1, 2], [0, 1]]  # row 0's context movie is gone; row 1 had none
    report = evaluate_model(model, feats, catalog, np.array([50, 20, 5, 1]), np.eye(4), torch.device("cpu"), (1,),
                            n_boot=10)
    assert report["recall@1"] == pytest.approx(0.5)          # row 0 misses: item 0 (its context) ranks first
    assert report["novel_rows"] == 2.0                        # neither target was mentioned before: both kept
    assert report["novel_recall@1"] == pytest.approx(1.0)     # with item 0 out of row 0's ranking, both hit


def test_a_truncated_context_keeps_the_newest_turns() -> None:
    turns = [Turn(role="seeker", text=f"t{i}", movie_ids=()) if i % 2 == 0 else
             Turn(role="recommender", text=f"t{i}", movie_ids=()) for i in range(5)]
    turns.append(Turn(role="recommender", text="watch A", movie_ids=(1,)))
    dialogue = Dialogue(external_id="x", dataset="t", split="train", turns=tuple(turns))
    catalog = ItemCatalog([1], ["A"], ["A"], ["head"])
    (sample,) = samples_from_dialogue(dialogue, catalog, max_turns=2)
    assert sample.context == "Seeker: t4\nRecommender: t3"  # the newest two, newest first
    assert "t0" not in sample.context and "t2" not in sample.context


def test_an_llm_relevance_score_never_overrides_the_gold_items_weight() -> None:
    samples = [RecSample("c", (), target=0, conversation_id=1, turn_position=3)]
    # the LLM scored the gold item itself 3.5 (and another item 4.0): the gold keeps its 4.0
    (soft,) = soft_targets(samples, {(1, 3): {0: 3.5, 5: 4.0}})
    assert soft == pytest.approx({0: 0.5, 5: 0.5})
