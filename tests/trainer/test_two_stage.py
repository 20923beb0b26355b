from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from augment.multilabel import parse_scores, retrieve
from db.models import RelevanceLabel
from lumicrs_cli import app
from tests.chat_server import ChatServer
from tests.trainer.test_train_cli import build_toy_corpus
from trainer.config import TrainConfig, TwoStageConfig, load_config
from trainer.data import RecSample, soft_targets
from trainer.loop import Features, LossFn, batch_loss, context_matrix, train_epoch
from trainer.losses import ce_plus_kl, kl_soft_labels, multilabel_soft_ce
from trainer.model import LumiCRSRecommender

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
    config.write_text(f"name: toy-two-stage\ndataset: toy\nloss: ce_kl\nepochs: 1\nbatch_size: 4\nn_prototypes: 0\n"
                      f"valid_fraction: 0.2\noutput_dir: {tmp_path}\ntwo_stage:\n  enabled: true\n"
                      f"  pretrain_epochs: 2\n  kl_alpha: 0.5\n")
    trained = runner.invoke(app, ["train", "--config", str(config), "--json", "--quiet"])
    assert trained.exit_code == 0, trained.output
    history = json.loads(trained.stdout)["history"]
    assert [h.get("pretrain_epoch") for h in history[:2]] == [1, 2] and "valid_recall@10" in history[2]
    mixed = tmp_path / "mixed.yaml"  # the paper's comparison: no stage 1, its objective mixed into every step
    mixed.write_text(config.read_text().replace("name: toy-two-stage", "name: toy-mixed")
                     .replace("  enabled: true\n", "  enabled: true\n  strategy: mixed\n"))
    trained = runner.invoke(app, ["train", "--config", str(mixed), "--json", "--quiet"])
    assert trained.exit_code == 0, trained.output
    assert not [h for h in json.loads(trained.stdout)["history"] if "pretrain_epoch" in h]


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


def two_stage_config(tmp_path: Path, loss: str, strategy: str = "two_stage", alpha: float = 0.5) -> TrainConfig:
    path = tmp_path / f"{loss}-{strategy}.yaml"
    path.write_text(f"name: t\nloss: {loss}\nbatch_size: 3\nprototype_weight: 0.5\n"
                    f"two_stage:\n  enabled: true\n  strategy: {strategy}\n  kl_alpha: {alpha}\n", encoding="utf-8")
    return load_config(path)


LOGITS_3x4 = torch.tensor([[2.0, 0.5, -1.0, 0.0], [0.1, 0.2, 0.3, 0.4], [-0.5, 1.5, 0.0, 1.0]])
GOLD = torch.tensor([0, 3, 1])
SOFT = [{0: 0.5, 2: 0.5}, None, {1: 0.8, 3: 0.2}]  # row 1: the scorer kept nothing beside its gold item


def by_hand_ce_kl(alpha: float) -> float:
    """Beyond Single Labels' stage 2 on LOGITS_3x4, written out with math: mean CE + alpha x mean KL(q || p), q the
    soft label (row 1: one-hot on its gold item, so its KL is its CE)."""
    ce, kl = 0.0, 0.0
    for row, gold, q in zip(LOGITS_3x4.tolist(), GOLD.tolist(), SOFT, strict=True):
        log_z = math.log(sum(math.exp(v) for v in row))
        log_p = [v - log_z for v in row]
        ce += -log_p[gold]
        q = q or {gold: 1.0}
        kl += sum(w * (math.log(w) - log_p[item]) for item, w in q.items())
    return ce / 3 + alpha * kl / 3


def test_ce_kl_is_beyond_single_labels_stage_two_exactly_by_hand(tmp_path: Path) -> None:
    """`loss: ce_kl` trains on CE + alpha x KL and nothing else: no prototype term (its weight is 0.5 in the config),
    no second KL, no stage-1 term; every row counts, a row without kept items through its gold item."""
    feats = Features(torch.zeros(3, 2), [(), (), ()], GOLD, SOFT)
    cfg = two_stage_config(tmp_path, "ce_kl", alpha=0.3)
    loss_fn = LossFn(cfg, torch.tensor([3.0, 1.0, 1.0, 2.0]), torch.device("cpu"))
    got = batch_loss(LOGITS_3x4, feats, torch.arange(3), loss_fn, cfg, torch.device("cpu")).item()
    assert got == pytest.approx(by_hand_ce_kl(0.3), rel=1e-6)
    assert got != pytest.approx(by_hand_ce_kl(0.5), rel=1e-3)
    # the rows of a batch are the rows idx names, in its order
    picked = batch_loss(LOGITS_3x4[[2, 0]], feats, torch.tensor([2, 0]), loss_fn, cfg, torch.device("cpu")).item()
    assert picked == pytest.approx(ce_plus_kl(LOGITS_3x4[[2, 0]], GOLD[[2, 0]],
                                              torch.tensor([[0, 0.8, 0, 0.2], [0.5, 0, 0.5, 0]]), 0.3).item())


def test_a_ce_kl_training_epoch_adds_no_prototype_term(tmp_path: Path) -> None:
    cfg = two_stage_config(tmp_path, "ce_kl")
    torch.manual_seed(0)
    model = LumiCRSRecommender(2, torch.randn(4, 2), hidden_dim=8, item_dim=4, n_prototypes=3, dropout=0.0)
    feats = Features(torch.randn(3, 2), [(), (1,), ()], GOLD, SOFT)
    reported = train_epoch(model, feats, LossFn(cfg, torch.ones(4), torch.device("cpu")),
                           torch.optim.SGD(model.parameters(), lr=0.0), cfg, 4, torch.device("cpu"),
                           torch.Generator().manual_seed(0), progress=False)
    logits = model(feats.text, context_matrix(feats.contexts, 4, torch.device("cpu")))
    q = torch.tensor([[0.5, 0, 0.5, 0], [0, 0, 0, 1.0], [0, 0.8, 0, 0.2]])
    assert reported == pytest.approx(ce_plus_kl(logits, GOLD, q, 0.5).item(), rel=1e-5)


def test_acfl_plus_kl_and_the_mixed_strategy_keep_their_own_names(tmp_path: Path) -> None:
    """ACFL + KL: the config's loss plus alpha x KL over the rows with soft labels only. Mixed: stage 1's soft CE on
    the synthetic rows is added in the same step, and no pretraining runs."""
    feats = Features(torch.zeros(3, 2), [(), (), ()], GOLD, SOFT)
    counts = torch.tensor([3.0, 1.0, 1.0, 2.0])
    cpu, rows = torch.device("cpu"), torch.arange(3)
    acfl_cfg = two_stage_config(tmp_path, "acfl", alpha=0.4)
    acfl_fn = LossFn(acfl_cfg, counts, cpu)
    soft_rows = torch.tensor([[0.5, 0, 0.5, 0], [0, 0.8, 0, 0.2]])
    kl = kl_soft_labels(LOGITS_3x4[[0, 2]], soft_rows)
    assert batch_loss(LOGITS_3x4, feats, rows, acfl_fn, acfl_cfg, cpu).item() == pytest.approx(
        (acfl_fn(LOGITS_3x4, GOLD) + 0.4 * kl).item(), rel=1e-6)
    mixed = two_stage_config(tmp_path, "ce_kl", "mixed", alpha=0.3)
    soft_ce = multilabel_soft_ce(LOGITS_3x4[[0, 2]], soft_rows)
    assert batch_loss(LOGITS_3x4, feats, rows, LossFn(mixed, counts, cpu), mixed, cpu).item() == pytest.approx(
        by_hand_ce_kl(0.3) + soft_ce.item(), rel=1e-6)


def test_ce_kl_without_two_stage_data_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: t\nloss: ce_kl\n", encoding="utf-8")
    with pytest.raises(ValueError, match="two_stage.enabled"):
        load_config(path)


def test_the_shipped_two_stage_config_is_the_papers_recipe() -> None:
    cfg = load_config(Path("configs/redial_two_stage.yaml"))
    assert (cfg.loss, cfg.two_stage.enabled, cfg.two_stage.strategy) == ("ce_kl", True, "two_stage")
    assert cfg.two_stage.pretrain_epochs > 0


def test_stage_one_is_soft_cross_entropy_on_the_multi_label_rows_only(tmp_path: Path) -> None:
    """Beyond Single Labels' stage 1: the recommender pretrains on the synthetic multi-label rows alone with the
    cross-entropy to their soft labels. With a zero learning rate the epoch's loss is that CE at the initial weights,
    by hand: row 1 (no soft label) takes no part."""
    from trainer.loop import pretrain_multilabel

    cfg = two_stage_config(tmp_path, "ce_kl").model_copy(
        update={"lr": 0.0, "batch_size": 8, "two_stage": TwoStageConfig(enabled=True, pretrain_epochs=1)})
    torch.manual_seed(0)
    model = LumiCRSRecommender(2, torch.randn(4, 2), hidden_dim=8, item_dim=4, n_prototypes=0, dropout=0.0)
    feats = Features(torch.randn(3, 2), [(), (1,), ()], GOLD, SOFT)
    (loss,) = pretrain_multilabel(model, feats, cfg, 4, torch.device("cpu"), progress=False)
    model.eval()
    logits = model(feats.text, context_matrix(feats.contexts, 4, torch.device("cpu")))
    log_p = torch.log_softmax(logits, dim=-1).tolist()
    by_hand = -(0.5 * log_p[0][0] + 0.5 * log_p[0][2] + 0.8 * log_p[2][1] + 0.2 * log_p[2][3]) / 2
    assert loss == pytest.approx(by_hand, rel=1e-5)
