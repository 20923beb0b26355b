"""Train the local judge panel (augment.panel) from a dataset's train dialogues:

    lumicrs augment train-judges [--dataset redial] [--seed 0] [--out augment/judge_panel]

Data (augment.panel_data): every train-split dialogue whose recommender names a movie (its first one is the target),
with two negatives each; conversations split by a hash of their id into train 70% / validation 10% / held out 20%.
Per judge (its feature groups, augment.panel.JUDGES): standardised features, logistic regression (lbfgs), the
inverse regularisation C chosen from C_GRID by validation AUC; threshold: the validation real dialogues' 10th
percentile of probability (90% of real dialogues pass); refit on train alone (validation and held out never seen).
Held-out AUC (real against every negative type) is measured once, stored, never used to choose anything.
Writes panel.npz (arrays only) and panel.json (judges, thresholds, AUCs, the command, data sha256, seed, sizes).
"""
from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from augment.panel import JUDGES, PANEL_DIR, PANEL_VERSION, Views, dialogue_string, embed_views
from augment.panel_data import SPLITS, Example, make_examples, split_of

C_GRID = (0.001, 0.01, 0.1, 1.0)
PASS_SHARE = 0.9


def corpus_examples(session: Session, dataset: str, *, seed: int = 0, limit: int | None = None) -> list[Example]:
    """Examples from the train split's dialogues (in id order; `limit` dialogues at most)."""
    from augment.writer import first_recommended
    from db.queries.corpus import list_dialogues, list_movies
    from db.queries.longtail import movie_tiers
    from db.types import Turn

    movies = {m.id: m for m in list_movies(session, dataset)}
    tiers = movie_tiers(session, dataset, splits=["train"])
    chosen = []
    for d in list_dialogues(session, dataset, ["train"]):
        target = first_recommended(d)
        if target is None or target not in movies or len(d.turns) < 4:
            continue
        turns = tuple(Turn(role=t.role, text=t.text) for t in d.turns)
        chosen.append((f"{dataset}:{d.external_id}", turns, movies[target]))
    return make_examples(chosen[:limit], tiers, movies, seed=seed)


def data_digest(examples: Sequence[Example]) -> str:
    h = hashlib.sha256()
    for e in examples:
        h.update(f"{e.conversation}|{e.label}|{e.kind}|{e.target.title}|{dialogue_string(e.turns)}\n".encode())
    return h.hexdigest()


def auc(labels: NDArray[Any], scores: NDArray[Any]) -> float:
    """Area under the ROC curve (ties count half): the chance a positive scores above a negative (Mann-Whitney U
    over average ranks)."""
    from scipy.stats import rankdata

    labels = np.asarray(labels)
    n_pos, n_neg = int((labels == 1).sum()), int((labels == 0).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    return float((ranks[labels == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def fit_judge(x_train: NDArray[np.float32], y_train: NDArray[Any], x_valid: NDArray[np.float32],
              y_valid: NDArray[Any], seed: int) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    mean = x_train.mean(axis=0)
    scale = x_train.std(axis=0) + 1e-6
    best: dict[str, Any] = {}
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
        model.fit((x_train - mean) / scale, y_train)
        p = model.predict_proba((x_valid - mean) / scale)[:, 1]
        score = auc(y_valid, p)
        if not best or score > best["valid_auc"]:
            best = {"C": c, "valid_auc": score, "coef": model.coef_[0].astype(np.float32),
                    "intercept": float(model.intercept_[0]), "valid_p": p}
    real = best.pop("valid_p")[y_valid == 1]
    best.update(mean=mean.astype(np.float32), scale=scale.astype(np.float32),
                threshold=float(np.quantile(real, 1 - PASS_SHARE)))
    return best


def split_masks(examples: Sequence[Example]) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
    """(train, validation, held out) rows, by the conversation each example was made from."""
    splits = np.array([split_of(e.conversation) for e in examples])
    return splits == "train", splits == "validation", splits == "heldout"


def matrix(all_views: Sequence[Views], groups: Sequence[str]) -> NDArray[np.float32]:
    return np.stack([v.features(groups) for v in all_views])


def train_panel(examples: Sequence[Example], *, seed: int = 0, out: Path = PANEL_DIR, command: str = "",
                progress: bool = True) -> dict[str, Any]:
    """Fit the five judges and write them to `out`; returns what panel.json holds."""
    train, valid, held = split_masks(examples)
    labels = np.array([e.label for e in examples])
    all_views = embed_views([(e.turns, e.target.title) for e in examples], progress=progress)
    arrays: dict[str, NDArray[np.float32]] = {}
    judges = []
    for name, (groups, column) in JUDGES.items():
        x = matrix(all_views, groups)
        fitted = fit_judge(x[train], labels[train], x[valid], labels[valid], seed)
        z = ((x[held] - fitted["mean"]) / fitted["scale"]) @ fitted["coef"] + fitted["intercept"]
        held_auc = auc(labels[held], z)
        arrays.update({f"{name}.mean": fitted["mean"], f"{name}.scale": fitted["scale"], f"{name}.coef": fitted["coef"]})
        judges.append({"name": name, "groups": list(groups), "column": column, "C": fitted["C"],
                       "intercept": fitted["intercept"], "threshold": fitted["threshold"],
                       "valid_auc": round(fitted["valid_auc"], 4), "heldout_auc": round(held_auc, 4),
                       "features": int(x.shape[1])})
        if progress:
            print(f"{name}: C {fitted['C']}, validation AUC {fitted['valid_auc']:.3f}, held-out AUC {held_auc:.3f}",
                  file=sys.stderr)
    meta = {"version": PANEL_VERSION, "judges": judges, "seed": seed, "command": command,
            "data_sha256": data_digest(examples), "encoder": "all-MiniLM-L6-v2 (max_seq_length 128)",
            "examples": {s: int(mask.sum()) for s, mask in zip(SPLITS, (train, valid, held), strict=True)},
            "conversations": {s: len({e.conversation for e, keep in zip(examples, mask, strict=True) if keep})
                              for s, mask in zip(SPLITS, (train, valid, held), strict=True)},
            "pass_share_on_validation_real": PASS_SHARE, "c_grid": list(C_GRID)}
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "panel.npz.tmp.npz"
    np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
    tmp.replace(out / "panel.npz")
    (out / "panel.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def train_command(dataset: str, seed: int, out: Path, limit: int | None, progress: bool) -> dict[str, Any]:
    """`lumicrs augment train-judges`: the corpus in DATABASE_URL -> the panel in `out`."""
    from db.cli_support import cli_session_factory

    factory = cli_session_factory()
    with factory() as session:
        examples = corpus_examples(session, dataset, seed=seed, limit=limit)
    if not examples:
        raise ValueError(f"dataset {dataset!r} has no train dialogue whose recommender names a movie: ingest it first")
    command = f"lumicrs augment train-judges --dataset {dataset} --seed {seed}" + (f" --limit {limit}" if limit else "")
    return train_panel(examples, seed=seed, out=out, command=command, progress=progress)
