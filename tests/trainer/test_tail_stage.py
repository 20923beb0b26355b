"""The tail-aware second stage (trainer.tail_stage): its merge and its rule by hand, its place in the ranking, and
that `lumicrs train` chooses it on validation only."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

import trainer.run as run_module
from db.models import Conversation, TrainingRun
from db.queries.runs import run_metrics
from lumicrs_cli import app
from tests.trainer.test_train_cli import build_toy_corpus
from trainer.loop import Features, rank_items
from trainer.model import PopularityModel
from trainer.tail_stage import TailStage, choose_stage, merge_reserved


def test_reserved_slots_by_hand() -> None:
    first = np.array([[0, 1, 2, 3, 4, 5]])
    rare = np.array([[2, 7, 8, 9]])
    # k 4, 2 slots: the first 2 stay, the 2 best rare ones not already there follow (2 is there? no: only 0, 1 are
    # kept, so 2 is taken from the rare list), then the first list goes on without repeats
    assert merge_reserved(first, rare, TailStage(2, 0, k=4)).tolist() == [[0, 1, 2, 7, 3, 4]]
    assert merge_reserved(first, np.array([[1, 7, 8]]), TailStage(2, 0, k=4)).tolist() == [[0, 1, 7, 8, 2, 3]]
    assert merge_reserved(first, rare, TailStage(1, 0, k=3)).tolist() == [[0, 1, 2, 3, 4, 5]]
    assert merge_reserved(first, np.array([[9, 8]]), TailStage(1, 0, k=3)).tolist() == [[0, 1, 9, 2, 3, 4]]
    assert merge_reserved(first, rare, TailStage(0, 0, k=4)) is first


def test_the_rule_takes_the_best_tail_within_the_recall_floor_and_ties_go_to_fewer_slots() -> None:
    targets = np.array([0, 1, 2, 3])           # items 2 and 3 are the tail
    tail = np.array([False, False, True, True])
    lists = {  # (slots, max_count) -> each row's top 1
        (0, 0): [[0], [1], [9], [9]],         # R 0.50, tail 0
        (1, 0): [[0], [9], [2], [9]],         # R 0.50, tail 0.5
        (1, 1): [[0], [9], [2], [9]],         # the same: a tie goes to the smaller max_count
        (2, 0): [[9], [9], [2], [3]],         # R 0.50, tail 1.0
        (2, 1): [[9], [9], [9], [3]],         # R 0.25: below the floor at drop 0.1
    }
    stage, options = choose_stage(lambda s: np.array(lists[(s.slots, s.max_count)]), targets, tail, (1, 2), (0, 1),
                                  max_recall_drop=0.1, k=1)
    assert stage == TailStage(2, 0, k=1)
    assert [(o.stage.slots, o.stage.max_count, o.recall, o.tail_recall) for o in options] == [
        (0, 0, 0.5, 0.0), (1, 0, 0.5, 0.5), (1, 1, 0.5, 0.5), (2, 0, 0.5, 1.0), (2, 1, 0.25, 0.5)]
    lists[(2, 0)] = [[9], [9], [9], [3]]   # now R 0.25 too: out, and of the two left (tail 0.5) the fewer slots win
    assert choose_stage(lambda s: np.array(lists[(s.slots, s.max_count)]), targets, tail, (1, 2), (0, 1),
                        max_recall_drop=0.1, k=1)[0] == TailStage(1, 0, k=1)
    assert choose_stage(lambda s: np.array(lists[(s.slots, s.max_count)]), targets, tail, (1, 2), (0, 1),
                        max_recall_drop=0.0, k=1)[0] == TailStage(1, 0, k=1)
    lists[(1, 0)] = lists[(1, 1)] = [[0], [9], [9], [9]]  # nothing beats the first stage's tail: it stays alone
    assert choose_stage(lambda s: np.array(lists[(s.slots, s.max_count)]), targets, tail, (1, 2), (0, 1),
                        max_recall_drop=0.0, k=1)[0] == TailStage(0, 0, k=1)


def test_the_ranking_gives_the_reserved_slot_to_the_best_scored_rare_movie() -> None:
    model = PopularityModel(torch.tensor([50.0, 20.0, 5.0, 1.0, 3.0]))
    feats = Features(torch.zeros(2, 3), [(), (4,)], torch.tensor([1, 0]), conversations=[1, 2])
    counts = np.array([9, 5, 1, 0, 0])  # 3 and 4 never trained on, 2 once
    plain = rank_items(model, feats, 5, torch.device("cpu"), k=3)
    assert plain.tolist() == [[0, 1, 2], [0, 1, 2]]
    staged = rank_items(model, feats, 5, torch.device("cpu"), k=3, stage=TailStage(1, 0, k=2), train_counts=counts)
    assert staged.tolist() == [[0, 4, 1], [0, 4, 1]]   # 4 outscores 3 among the never-trained movies
    novel = rank_items(model, feats, 5, torch.device("cpu"), k=3, exclude_context=True, stage=TailStage(1, 0, k=2),
                       train_counts=counts)
    assert novel.tolist() == [[0, 4, 1], [0, 3, 1]]    # row 1 named 4: the slot goes to the next rare movie
    once = rank_items(model, feats, 5, torch.device("cpu"), k=3, stage=TailStage(1, 1, k=2), train_counts=counts)
    assert once.tolist() == [[0, 2, 1], [0, 2, 1]]     # trained once counts as rare at max_count 1
    with pytest.raises(ValueError, match="train counts"):
        rank_items(model, feats, 5, torch.device("cpu"), k=3, stage=TailStage(1, 0, k=2))


@pytest.mark.slow
def test_train_chooses_the_stage_on_validation_rows_only(database_url: str, session_factory: sessionmaker[Session],
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chooser is handed the validation rows (never a test row), and a changed test split changes the test
    figures but neither the choice nor a validation figure."""
    with session_factory() as session:
        build_toy_corpus(session)
    seen: list[int] = []
    real = run_module.choose_stage

    def spy(rank, targets, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(len(targets))
        return real(rank, targets, *args, **kwargs)

    monkeypatch.setattr(run_module, "choose_stage", spy)
    runner = CliRunner()

    def train(name: str) -> tuple[dict[str, float], dict[str, float]]:
        config = tmp_path / f"{name}.yaml"
        config.write_text(f"name: {name}\ndataset: toy\nbatch_size: 4\nn_prototypes: 2\nvalid_fraction: 0.5\n"
                          f"epochs: 2\noutput_dir: {tmp_path / 'runs'}\n"
                          "tail_stage:\n  enabled: true\n  slots: [1, 2]\n  max_counts: [0, 1]\n  max_recall_drop: 1.0\n")
        result = runner.invoke(app, ["train", "--config", str(config), "--json", "--quiet"])
        assert result.exit_code == 0, result.output
        with session_factory() as session:
            run_id = session.scalars(select(TrainingRun.id).where(TrainingRun.name == name)).one()
            metrics = run_metrics(session, run_id)
        return metrics["valid"], metrics["test"]

    valid, test = train("staged")
    assert seen == [int(valid["rows"])] and valid["rows"] != test["rows"]
    # a drop of 1.0 lets any option in: the stage with the best validation tail is taken, and it is stored
    assert valid["tail_stage_slots"] in (0.0, 1.0, 2.0) and "tail_stage_slots" not in test
    with session_factory() as session:  # the test split changes: one of its conversations leaves it
        conversation = session.scalars(select(Conversation).where(Conversation.split == "test")).first()
        assert conversation is not None
        conversation.split = "held-out"
        session.commit()
    valid_again, test_again = train("staged-again")
    assert test_again["rows"] < test["rows"]
    chosen = ("tail_stage_slots", "tail_stage_max_count", "rows", "recall@1", "recall@10", "recall@50")
    assert {k: valid_again[k] for k in chosen} == {k: valid[k] for k in chosen}
    # read back from its checkpoint: as it ranks, the stored test figures; `first_stage`, the figures of the same
    # model trained without a second stage (the same seed and data: the same model)
    figures = ("rows", "recall@1", "recall@10", "recall@50", "tail_recall@10", "coverage@10")
    again = run_module.read_test_figures("staged-again", session_factory, first_stage=False)
    assert {k: again.get(k) for k in figures} == {k: test_again.get(k) for k in figures}
    first = run_module.read_test_figures("staged-again", session_factory, first_stage=True)
    config = tmp_path / "plain.yaml"
    config.write_text((tmp_path / "staged-again.yaml").read_text().replace("staged-again", "plain")
                      .replace("enabled: true", "enabled: false"))
    assert runner.invoke(app, ["train", "--config", str(config), "--json", "--quiet"]).exit_code == 0
    with session_factory() as session:
        plain = run_metrics(session, session.scalars(select(TrainingRun.id).where(TrainingRun.name == "plain")).one())
    assert {k: first.get(k) for k in figures} == {k: plain["test"].get(k) for k in figures}
    # a run that chose slots (the toy's 6 movies all fit in any top 10, so the figures cannot tell): read as it
    # ranks, the evaluation is handed its stage; `first_stage`, none
    chosen_stage = TailStage(2, 1, k=10)
    handed: list[TailStage | None] = []
    real_evaluate = run_module.evaluate_model
    monkeypatch.setattr(run_module, "stored_tail_stage", lambda factory, run_id: chosen_stage)
    monkeypatch.setattr(run_module, "evaluate_model", lambda *a, **kw: handed.append(kw["stage"]) or real_evaluate(
        *a, **kw))
    run_module.read_test_figures("staged-again", session_factory, first_stage=False)
    run_module.read_test_figures("staged-again", session_factory, first_stage=True)
    assert handed == [chosen_stage, None]
