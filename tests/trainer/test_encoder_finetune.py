"""The fine-tuned context encoder's schedule (trainer.loop.fit): the head first trains on the frozen embeddings, then
the encoder trains with it and is kept only when validation improves; a saved tuned model ranks through its encoder.
A tiny bag-of-ids encoder stands in for MiniLM (the slow CLI test runs the real one)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from trainer.config import TrainConfig
from trainer.loop import Features, encoded_text, fit, live_encoder, rank_items
from trainer.metrics import recall_at_k
from trainer.model import LumiCRSRecommender

N_ITEMS, DIM = 40, 8


class IdEncoder(nn.Module):
    """'item 7' -> a learnable vector for 7, L2-normalised (starts nearly constant: it carries no signal yet)."""

    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Embedding(N_ITEMS, DIM)
        nn.init.normal_(self.table.weight, std=1e-3)
        self.table.weight.data[:, 0] += 1.0

    def forward(self, texts: list[str]) -> Tensor:
        return nn.functional.normalize(self.table(torch.tensor([int(t.split()[1]) for t in texts])), dim=-1)


def rows(n: int, seed: int) -> Features:
    """The context's text names the target; its frozen embedding is a constant (no signal without tuning)."""
    targets = torch.randint(N_ITEMS, (n,), generator=torch.Generator().manual_seed(seed))
    frozen = torch.zeros(n, DIM)
    frozen[:, 0] = 1.0
    return Features(frozen, [()] * n, targets, texts=[f"item {int(t)}" for t in targets],
                    conversations=list(range(n)))


def model_and_config(tmp_path: Path, **changes: object) -> tuple[LumiCRSRecommender, TrainConfig]:
    torch.manual_seed(0)
    model = LumiCRSRecommender(DIM, torch.randn(N_ITEMS, DIM), hidden_dim=16, item_dim=8, n_prototypes=0,
                               dropout=0.0, text_encoder=IdEncoder())  # type: ignore[arg-type]
    cfg = TrainConfig.model_validate({"name": "t", "loss": "ce", "epochs": 3, "finetune_encoder": True,
                                      "finetune_epochs": 4, "batch_size": 32, "lr": 1e-2, "encoder_lr": 0.5,
                                      "patience": 3, "impute_cold_items": False, "prototype_weight": 0.0,
                                      "output_dir": tmp_path, **changes})
    return model, cfg


def test_the_head_trains_on_frozen_embeddings_then_the_encoder_with_it(tmp_path: Path) -> None:
    model, cfg = model_and_config(tmp_path)
    start = model.text_encoder.table.weight.detach().clone()  # type: ignore[union-attr]
    train, valid = rows(400, 1), rows(200, 2)
    history = fit(model, train, valid, cfg, np.bincount(train.targets.numpy(), minlength=N_ITEMS),
                  torch.device("cpu"), progress=False)
    phases = [h["encoder_tuned"] for h in history]
    assert phases[:3] == [0.0, 0.0, 0.0] and set(phases[3:]) == {1.0} and len(phases) > 3
    head_best = max(h["valid_recall@10"] for h in history[:3])
    tuned_best = max(h["valid_recall@10"] for h in history[3:])
    assert head_best < 0.5 < tuned_best  # the frozen constant cannot tell targets apart; the tuned encoder can
    assert live_encoder(model) is not None  # the tuned epochs won on validation: their weights are the result
    assert not torch.equal(model.text_encoder.table.weight, start)  # type: ignore[union-attr]
    ranked = rank_items(model, valid, N_ITEMS, torch.device("cpu"), k=10)
    assert recall_at_k(ranked, valid.targets.numpy(), 10) == tuned_best  # the selected epoch is what ranks


def test_a_saved_tuned_model_ranks_through_its_encoder_not_the_frozen_vectors(tmp_path: Path) -> None:
    model, cfg = model_and_config(tmp_path)
    train, valid = rows(400, 1), rows(200, 2)
    fit(model, train, valid, cfg, np.bincount(train.targets.numpy(), minlength=N_ITEMS), torch.device("cpu"),
        progress=False)
    reloaded, _ = model_and_config(tmp_path)
    assert live_encoder(reloaded) is None  # a fresh model reads the frozen embeddings
    reloaded.load_state_dict(model.state_dict())
    assert live_encoder(reloaded) is not None  # the flag travels with the weights
    encoded = encoded_text(reloaded, valid)
    assert encoded.encoded and not torch.equal(encoded.text, valid.text)
    assert np.array_equal(rank_items(reloaded, valid, N_ITEMS, torch.device("cpu"), k=10),
                          rank_items(model, valid, N_ITEMS, torch.device("cpu"), k=10))


def test_no_finetune_epochs_leaves_the_encoder_frozen_and_unread(tmp_path: Path) -> None:
    model, cfg = model_and_config(tmp_path, finetune_epochs=0)
    start = {k: v.clone() for k, v in model.text_encoder.state_dict().items()}  # type: ignore[union-attr]
    train, valid = rows(400, 1), rows(200, 2)
    history = fit(model, train, valid, cfg, np.bincount(train.targets.numpy(), minlength=N_ITEMS),
                  torch.device("cpu"), progress=False)
    assert [h["encoder_tuned"] for h in history] == [0.0] * len(history)
    assert live_encoder(model) is None
    assert all(torch.equal(v, start[k]) for k, v in model.text_encoder.state_dict().items())  # type: ignore[union-attr]


def test_a_run_killed_while_tuning_resumes_in_the_tuning_phase(tmp_path: Path) -> None:
    """Killed after the first tuned epoch (its state on disk), a resumed fit goes on tuning from there and ends
    where an uninterrupted fit ends."""
    train, valid = rows(400, 1), rows(200, 2)
    counts = np.bincount(train.targets.numpy(), minlength=N_ITEMS)
    whole, cfg = model_and_config(tmp_path)
    expected = fit(whole, train, valid, cfg, counts, torch.device("cpu"), progress=False)
    checkpoint = tmp_path / "last.pt"
    first, short = model_and_config(tmp_path, finetune_epochs=1)
    fit(first, train, valid, short, counts, torch.device("cpu"), progress=False, checkpoint=checkpoint)
    resumed, cfg = model_and_config(tmp_path)
    history = fit(resumed, train, valid, cfg, counts, torch.device("cpu"), progress=False, checkpoint=checkpoint)
    strip = [{k: v for k, v in h.items() if k not in ("seconds", "samples_per_second")} for h in history]
    assert strip == [{k: v for k, v in h.items() if k not in ("seconds", "samples_per_second")} for h in expected]
    assert all(torch.equal(v, whole.state_dict()[k]) for k, v in resumed.state_dict().items())


def test_a_resume_under_another_config_is_refused_naming_the_field(tmp_path: Path) -> None:
    train, valid = rows(100, 1), rows(50, 2)
    counts = np.bincount(train.targets.numpy(), minlength=N_ITEMS)
    checkpoint = tmp_path / "last.pt"
    first, cfg = model_and_config(tmp_path, epochs=1, finetune_epochs=0)
    fit(first, train, valid, cfg, counts, torch.device("cpu"), progress=False, checkpoint=checkpoint)
    saved = checkpoint.read_bytes()
    again, changed = model_and_config(tmp_path, epochs=1, finetune_epochs=0, lr=0.5)
    with pytest.raises(ValueError, match=r"last\.pt: was trained under another config \(lr: 0\.01 -> 0\.5\)"):
        fit(again, train, valid, changed, counts, torch.device("cpu"), progress=False, checkpoint=checkpoint)
    assert checkpoint.read_bytes() == saved  # refused before anything was trained or written
    longer, schedule = model_and_config(tmp_path, epochs=1, finetune_epochs=1, patience=5)  # the schedule may change
    history = fit(longer, train, valid, schedule, counts, torch.device("cpu"), progress=False, checkpoint=checkpoint)
    assert [(h["epoch"], h["encoder_tuned"]) for h in history] == [(1, 0.0), (2, 1.0)]


def test_the_encoder_schedule_defaults_and_its_learning_rate_reaches_the_optimizer(tmp_path: Path) -> None:
    from trainer.loop import make_optimizer

    default = TrainConfig(name="x")
    assert (default.finetune_encoder, default.finetune_epochs, default.encoder_lr) == (False, 2, 2e-5)
    model, cfg = model_and_config(tmp_path)
    lrs = [group["lr"] for group in make_optimizer(model, cfg).param_groups]
    assert lrs == [cfg.lr, cfg.encoder_lr] and cfg.encoder_lr != cfg.lr


def test_the_real_encoder_in_length_sorted_chunks_gives_each_text_its_own_vector_in_the_callers_order() -> None:
    """TrainableTextEncoder encodes a batch in chunks of similar length (speed): every row must still be that text's
    vector, the one it gets when encoded alone, and gradients must reach the weights through the reordering."""
    from lm.embeddings import default_encoder_path
    from trainer.model import TrainableTextEncoder

    texts = ["hi", "I loved @123 and want something darker, maybe a thriller with a twist " * 3, "any comedy?",
             "something like The Shining", "ok", "what about a long animated movie for my kids this weekend",
             "sci-fi", "I have seen it, thanks"]
    encoder = TrainableTextEncoder(default_encoder_path(), chunk_size=3)
    batch = encoder(texts)
    alone = torch.cat([encoder([t]) for t in texts])
    assert batch.shape == (len(texts), 384)
    assert torch.allclose(batch, alone, atol=1e-5)
    assert not torch.allclose(batch[1:], alone[:-1], atol=1e-2)  # the order is the caller's, not the sorted one
    batch[1].sum().backward()
    grads = [p.grad for p in encoder.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)
    assert encoder([]).shape == (0, 384)
