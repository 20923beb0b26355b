from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from augment.multilabel import parse_scores, retrieve
from db.models import RelevanceLabel
from lumicrs_cli import app
from tests.chat_server import ChatServer
from tests.trainer.test_train_cli import build_toy_corpus
from trainer.data import RecSample, soft_targets

runner = CliRunner()


def test_parse_scores_and_retrieve() -> None:
    assert parse_scores('{"scores": {"1": 4, "2": 3.5, "3": 9, "7": 2}}', 5) == {0: 4.0, 1: 3.5}
    assert parse_scores("nothing", 5) is None
    items = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    assert retrieve(np.array([[1.0, 0.0]]), items, 2).tolist() == [[0, 2]]


def test_soft_targets_by_hand() -> None:
    samples = [RecSample("c", (), target=0, conversation_id=1, turn_position=3),
               RecSample("c", (), target=2, conversation_id=2, turn_position=1)]
    soft = soft_targets(samples, {(1, 3): {5: 4.0, 6: 3.5}})
    assert soft[0] == pytest.approx({0: 4 / 11.5, 5: 4 / 11.5, 6: 3.5 / 11.5}) and soft[1] is None


@pytest.mark.slow
def test_multilabel_then_two_stage_training(endpoint: ChatServer, session_factory: sessionmaker[Session],
                                            tmp_path: Path) -> None:
    with session_factory() as session:
        build_toy_corpus(session)
    result = runner.invoke(app, ["augment", "multilabel", "--dataset", "toy", "--scorer", "relevance-ok",
                                 "--top-k", "5", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["labelled"] == summary["turns"] > 0 and summary["relevant"] == 2 * summary["turns"]
    with session_factory() as session:
        ranks = sorted({label.retrieval_rank for label in session.scalars(select(RelevanceLabel))})
        assert ranks == [1, 2, 3]  # candidate 99 is out of range and ignored
    config = tmp_path / "two.yaml"
    config.write_text(f"name: toy-two-stage\ndataset: toy\nloss: ce\nepochs: 1\nbatch_size: 4\nn_prototypes: 0\n"
                      f"valid_fraction: 0.2\noutput_dir: {tmp_path}\ntwo_stage:\n  enabled: true\n"
                      f"  pretrain_epochs: 2\n  kl_alpha: 0.5\n")
    trained = runner.invoke(app, ["train", "--config", str(config), "--json", "--quiet"])
    assert trained.exit_code == 0, trained.output
    history = json.loads(trained.stdout)["history"]
    assert [h.get("pretrain_epoch") for h in history[:2]] == [1, 2] and "valid_recall@10" in history[2]


def test_beyond_single_labels_settings_are_the_papers() -> None:
    """Top-50 retrieval, relevance 0-4 kept at >= 3.5, CE + alpha * KL after a multi-label pretraining stage."""
    import inspect

    from augment.multilabel import label_turns
    from trainer.config import TwoStageConfig

    defaults = inspect.signature(label_turns).parameters
    assert (defaults["top_k"].default, defaults["keep"].default) == (50, 3.5)
    assert TwoStageConfig().min_relevance == 3.5 and TwoStageConfig().pretrain_epochs > 0
    assert parse_scores('{"scores": {"1": 4, "2": 4.5, "3": -1, "4": 0, "5": 3.5}}', 5) == {0: 4.0, 3: 0.0, 4: 3.5}


def test_the_prototype_is_the_movies_most_representative_dialogue() -> None:
    """LumiCRS Sec. 4.2: among a movie's dialogues, the one whose top-K neighbours are most similar on average."""
    from augment.prototypes import pick_prototypes

    scores = np.array([[0.9, 0.1], [0.6, 0.6], [0.2, 0.2], [0.5, 0.5]])
    assert pick_prototypes({7: [0, 1, 2], 8: [2, 3]}, scores) == {7: 1, 8: 3}
    assert pick_prototypes({9: [0, 3]}, np.array([[0.5, 0.5], [0, 0], [0, 0], [0.5, 0.5]])) == {9: 0}  # tie: first
