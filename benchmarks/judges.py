"""The local judge panel (augment/judge_panel) measured: held-out AUC per judge and per negative type, agreement
between judges, the panel's votes on writer dialogues, its speed.

    DATABASE_URL=sqlite:///bench.db python benchmarks/judges.py [--writer-report reports/writer-quality-200.json]
        [--resamples 1000] [--out reports/judges.json]

Protocol: the examples `lumicrs augment train-judges` builds from ReDial's train split (same seed: the data sha256
is checked against the panel's), the held-out conversations only (20% by a hash of the conversation id, never seen
in training or in choosing anything); every real dialogue against every negative (and per negative type). AUC with
a 95% bootstrap interval over held-out conversations; accuracy at each judge's stored threshold; Cohen's kappa
between every two judges' pass votes on the held-out examples. Writer dialogues: the writer arm's dialogues of
`--writer-report` (benchmarks/writer_quality.py), voted on by the panel; the vote bands as `augment route` reads them
(4-5 passes auto-accept, 2-3 review, 0-1 discard), apart for dialogues that name their target and those that do not.
Speed: seconds per dialogue for the whole panel on the writer dialogues, embeddings not cached, the encoder loaded
once (2 cores, whatever else runs). The last line: `min judge AUC: 0.NN`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reporting import write_report  # noqa: E402

from annotator.agreement import cohen_kappa  # noqa: E402
from augment.generators import parse_dialogue  # noqa: E402
from augment.panel import JudgePanel, embed_views  # noqa: E402
from augment.panel_data import NEGATIVE_TYPES, split_of  # noqa: E402
from augment.panel_train import auc, corpus_examples, data_digest  # noqa: E402
from db.cli_support import cli_session_factory  # noqa: E402


def bootstrap_auc(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray, resamples: int,
                  seed: int = 0) -> tuple[float, float]:
    """95% interval of the AUC, resampling conversations (every example of a drawn conversation comes along)."""
    rng = np.random.default_rng(seed)
    keys = np.unique(groups)
    rows = {k: np.flatnonzero(groups == k) for k in keys}
    values = []
    for _ in range(resamples):
        drawn = np.concatenate([rows[k] for k in rng.choice(keys, size=len(keys), replace=True)])
        values.append(auc(labels[drawn], scores[drawn]))
    lo, hi = np.nanpercentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writer-report", default="reports/writer-quality-200.json")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--out", default="reports/judges.json")
    args = parser.parse_args()
    panel = JudgePanel.load()
    with cli_session_factory()() as session:
        examples = corpus_examples(session, "redial", seed=int(panel.meta["seed"]))  # type: ignore[call-overload]
    if data_digest(examples) != panel.meta["data_sha256"]:
        raise SystemExit("the corpus in DATABASE_URL is not the one the shipped panel was trained on (data sha256)")
    held = [e for e in examples if split_of(e.conversation) == "heldout"]
    labels = np.array([e.label for e in held])
    kinds = np.array([e.kind for e in held])
    groups = np.array([e.conversation for e in held])
    all_views = embed_views([(e.turns, e.target.title) for e in held], progress=True)
    report: dict[str, Any] = {"held_out": {"examples": len(held), "conversations": len(set(groups)),
                                           "real": int(labels.sum()),
                                           "per_type": {k: int((kinds == k).sum()) for k in NEGATIVE_TYPES}},
                              "panel": {k: panel.meta[k] for k in ("version", "seed", "command", "data_sha256")},
                              "judges": {}}
    passes: dict[str, np.ndarray] = {}
    for judge in panel.judges:
        p = judge.probability(np.stack([v.features(judge.groups) for v in all_views]))
        passes[judge.name] = p >= judge.threshold
        entry: dict[str, Any] = {"auc": auc(labels, p), "interval": bootstrap_auc(labels, p, groups, args.resamples),
                                 "accuracy_at_threshold": float((passes[judge.name] == (labels == 1)).mean()),
                                 "real_passing": float(passes[judge.name][labels == 1].mean()), "per_type": {}}
        for kind in NEGATIVE_TYPES:
            keep = (labels == 1) | (kinds == kind)
            entry["per_type"][kind] = {
                "auc": auc(labels[keep], p[keep]),
                "interval": bootstrap_auc(labels[keep], p[keep], groups[keep], max(args.resamples // 5, 100)),
                "caught": float((~passes[judge.name][kinds == kind]).mean())}
        report["judges"][judge.name] = entry
        print(f"{judge.name}: AUC {entry['auc']:.3f} [{entry['interval'][0]:.3f}, {entry['interval'][1]:.3f}], "
              f"accuracy {entry['accuracy_at_threshold']:.3f}; " + ", ".join(
                  f"{k} {v['auc']:.2f}" for k, v in entry["per_type"].items()), flush=True)
    names = panel.names
    report["kappa"] = {f"{a} / {b}": cohen_kappa(list(zip(passes[a].tolist(), passes[b].tolist(), strict=True)))[0]
                       for i, a in enumerate(names) for b in names[i + 1:]}
    writer_path = Path(args.writer_report)
    if writer_path.exists():
        written = json.loads(writer_path.read_text())["writer"]["written"]
        dialogues = [(parse_dialogue(w["text"]), w["target"], bool(w["names_target"])) for w in written if w["text"]]
        started = time.perf_counter()
        votes = panel.vote_many([(turns, title) for turns, title, _ in dialogues])
        seconds = time.perf_counter() - started
        count = np.array([sum(v.passed for v in vs) for vs in votes])
        named = np.array([n for _, _, n in dialogues])

        def bands(mask: np.ndarray) -> dict[str, Any]:
            c = count[mask]
            return {"dialogues": int(mask.sum()), "auto_accept_4_5": int((c >= 4).sum()),
                    "review_2_3": int(((c >= 2) & (c <= 3)).sum()), "discard_0_1": int((c <= 1).sum()),
                    "review_share": float(((c >= 2) & (c <= 3)).mean()) if len(c) else float("nan"),
                    "passes_histogram": [int((c == k).sum()) for k in range(len(names) + 1)]}

        report["writer_dialogues"] = {"report": str(writer_path), "all": bands(np.ones(len(count), bool)),
                                      "names_target": bands(named), "does_not_name_target": bands(~named),
                                      "seconds_per_dialogue": seconds / max(len(dialogues), 1)}
        w = report["writer_dialogues"]
        print(f"writer dialogues ({len(dialogues)}): 4-5 {w['all']['auto_accept_4_5']}, 2-3 {w['all']['review_2_3']}"
              f" ({w['all']['review_share']:.0%}), 0-1 {w['all']['discard_0_1']}; naming their target "
              f"{w['names_target']['passes_histogram']}, not {w['does_not_name_target']['passes_histogram']} "
              f"(passes 0..5); {w['seconds_per_dialogue']:.3f} s per dialogue")
    write_report(Path(args.out), report)
    print(f"min judge AUC: {min(j['auc'] for j in report['judges'].values()):.2f}")


if __name__ == "__main__":
    main()
