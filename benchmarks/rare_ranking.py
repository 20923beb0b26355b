"""How well a trained model ranks the movies it never trained on, among themselves: the limit of the tail stage.

    DATABASE_URL=sqlite:///bench.db python benchmarks/rare_ranking.py --run tail-stage-redial-42

For the rows (validation and test, standard protocol) whose movie training never saw (or saw at most once), the
recall@1/3/5/10 of a ranking restricted to those rare movies, by three scorers: the model's own scores (what the
tail-aware stage uses), the cosine of the context's text to the movie's text, and the sum of the two z-scored per row
(text weighted 3). A reserved slot can only hit as often as the rare ranking's first places do. Reads the finished run
back (trains nothing). Writes reports/rare-ranking-<run>.json.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from reporting import REPO, write_report

from db.engine import make_engine, make_session_factory
from db.settings import get_settings
from trainer.distributed import resolve_device
from trainer.loop import batch_context, batch_text, encoded_text
from trainer.run import features, load_trained

KS = (1, 3, 5, 10)


def zscore(scores: torch.Tensor) -> torch.Tensor:
    return (scores - scores.mean(1, keepdim=True)) / scores.std(1, keepdim=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a finished recommender run (its checkpoint on disk)")
    args = parser.parse_args()
    factory = make_session_factory(make_engine(get_settings().database_url))
    _, cfg, data, model, _, vectors = load_trained(args.run, factory)
    device = resolve_device(cfg.device)
    _, valid, test = features(data, vectors, cfg)
    counts = torch.from_numpy(data.train_counts())
    model.eval()
    out: dict[str, dict[str, dict[str, float]]] = {}
    for split, feats in (("valid", valid), ("test", test)):
        feats = encoded_text(model, feats)
        with torch.no_grad():
            scores = model(batch_text(model, feats, slice(0, len(feats)), device),
                           batch_context(model, feats, range(len(feats)), len(data.catalog), device)).float().cpu()
            text = (F.normalize(feats.text, dim=-1) @ F.normalize(model.item_text, dim=-1).T).cpu()
        targets = feats.targets
        for max_count in (0, 1):
            rare = counts <= max_count
            rows = rare[targets]
            for name, scored in (("model", scores), ("text", text), ("model + 3 x text (z-scored)",
                                                                       zscore(scores) + 3 * zscore(text))):
                top = scored.masked_fill(~rare, -torch.inf).topk(max(KS), dim=1).indices
                hits = top[rows] == targets[rows, None]
                key = f"{split} | trained on <= {max_count} | {name}"
                out[key] = {"rows": float(rows.sum()), "rare_movies": float(rare.sum()),
                            **{f"recall@{k}": float(hits[:, :k].any(1).float().mean()) for k in KS}}
                print(key, {k: round(v, 3) for k, v in out[key].items()}, flush=True)
    write_report(REPO / "reports" / f"rare-ranking-{args.run}.json", {"run": args.run, "rankings": out})


if __name__ == "__main__":
    main()
