"""Post-hoc logit adjustment of a finished recommender run: the head-for-tail trade without retraining.

    DATABASE_URL=sqlite:///bench.db python benchmarks/logit_adjustment.py RUN [--taus 0 0.1 0.2 0.3 0.5 0.8]

Each item's bias becomes b_i - tau * ln(1 + N_i) (N_i: the item's training-target count; Menon et al. 2021's
logit adjustment with the counts as the prior), so frequent movies lose ground to rare ones. For every tau the
run's checkpoint is scored on its validation and test rows (both protocols, every movie ranked); tau is chosen on
validation R@10 only and the test row of that tau is marked. Reads the database, writes nothing; prints a Markdown
table with 95% bootstrap intervals.
"""
from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from recommendation import cell  # benchmarks/recommendation.py
from torch import nn

from db.cli_support import cli_session_factory
from trainer.distributed import resolve_device
from trainer.evaluation import Report
from trainer.loop import encoded_text, evaluate_model, make_features
from trainer.run import entity_linker, load_trained

# the test columns, each with whether it carries a bootstrap interval (coverage is a property of the whole ranking)
COLUMNS = (("recall@10", True), ("tail_recall@10", True), ("novel_recall@10", True), ("coverage@10", False),
           ("recall@50", True))


def adjusted_bias(bias: torch.Tensor, train_counts: torch.Tensor, tau: float) -> torch.Tensor:
    return bias - tau * torch.log1p(train_counts.to(bias.dtype))


@contextmanager
def logit_adjusted(model: nn.Module, train_counts: torch.Tensor, tau: float) -> Iterator[None]:
    """The model scores with adjusted item biases inside the block; its trained biases come back after."""
    bias: torch.Tensor = getattr(model, "item_bias")
    saved = bias.detach().clone()
    with torch.no_grad():
        bias.copy_(adjusted_bias(saved, train_counts, tau))
    try:
        yield
    finally:
        with torch.no_grad():
            bias.copy_(saved)


def choose_tau(valid: dict[float, Report]) -> float:
    """The tau with the best validation R@10 (the smallest adjustment on a tie)."""
    return max(sorted(valid), key=lambda tau: (valid[tau].get("recall@10") or 0.0, -tau))


def arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--taus", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3, 0.5, 0.8])
    parser.add_argument("--bootstrap", type=int, default=1000)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = arguments(argv)
    _, cfg, data, model, item_emb, vectors = load_trained(args.run, cli_session_factory())
    if not hasattr(model, "item_bias"):
        raise SystemExit(f"run {args.run!r} is a {cfg.model} model: it has no item biases to adjust")
    device, linker = resolve_device(cfg.device), entity_linker(cfg, data)
    splits = {name: encoded_text(model, make_features(rows, vectors, linker=linker))
              for name, rows in (("valid", data.valid), ("test", data.test))}
    train_counts = data.train_counts()
    counts = torch.from_numpy(train_counts).to(device)
    scored: dict[str, dict[float, Report]] = {"valid": {}, "test": {}}
    for tau in args.taus:
        with logit_adjusted(model, counts, tau):
            for name, feats in splits.items():
                scored[name][tau] = evaluate_model(model, feats, data.catalog, train_counts, item_emb, device,
                                                   (10, 50), n_boot=args.bootstrap, seed=cfg.seed)
        print(f"tau {tau}: valid R@10 {cell(scored['valid'][tau], 'recall@10')}", flush=True)
    chosen = choose_tau(scored["valid"])
    print(f"\n{args.run}: {len(data.valid)} validation rows, {len(data.test)} test rows, "
          f"{len(data.catalog)} movies ranked; tau chosen on validation R@10: {chosen}\n")
    print("| tau | valid R@10 | valid Tail-R@10 | test " + " | test ".join(key for key, _ in COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 3) + "|")
    for tau in args.taus:
        valid, test = scored["valid"][tau], scored["test"][tau]
        mark = " (chosen)" if tau == chosen else ""
        print(f"| {tau}{mark} | {cell(valid, 'recall@10')} | {cell(valid, 'tail_recall@10')} | "
              + " | ".join(cell(test, key, ci) for key, ci in COLUMNS) + " |")


if __name__ == "__main__":
    main()
