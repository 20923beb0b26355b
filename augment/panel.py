"""The local judge panel: five small judges trained from the corpus (augment/panel_train.py), run in this process on
MiniLM sentence embeddings, no LLM server. Each judge answers one of the questions the LLM judges' prompt asks, from
its own view of the dialogue, so the five make different errors:

- panel-about: is the dialogue about its target movie (semantic consistency): the target's title against the
  dialogue and the recommender's turns;
- panel-flow: do the turns follow one another (coherence): neighbouring turns, how it opens and ends;
- panel-roles: does each speaker behave like one (plausibility): what seekers and recommenders say;
- panel-fluency: does it read like people talking (fluency): repetition, length, variety;
- panel-whole: every view at once.

A judge is a logistic regression (standardised features) stored as plain arrays (augment/judge_panel/panel.npz,
no pickle) with its threshold (chosen on validation conversations) and its held-out AUC; a vote passes when the
judge's probability reaches its threshold. Its three scores are that probability on the 1-5 scale, written to the
column of its question (the others empty).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from db.queries.candidates import names_title
from db.types import Turn

PANEL_DIR = Path(__file__).resolve().parent / "judge_panel"
PANEL_VERSION = "1"

# judge name -> (feature groups, the JudgeVote column its score goes to)
JUDGES: dict[str, tuple[tuple[str, ...], str]] = {
    "panel-about": (("lexical", "target", "dialogue"), "semantic"),
    "panel-flow": (("lexical", "flow", "ends"), "semantic"),
    "panel-roles": (("lexical", "roles"), "plausibility"),
    "panel-fluency": (("lexical", "flow_scalars", "dialogue"), "fluency"),
    "panel-whole": (("lexical", "target", "flow", "ends", "roles", "dialogue"), "plausibility"),
}
QUESTIONS = {"panel-about": "about its target", "panel-flow": "turns follow one another",
             "panel-roles": "speakers behave like seeker and recommender", "panel-fluency": "reads fluently",
             "panel-whole": "all of these"}


def is_panel_judge(name: str) -> bool:
    return name.split("@")[0] in JUDGES


def _cos(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    return float(a @ b / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-8))


def lexical(turns: Sequence[Turn], title: str) -> list[float]:
    words = [w.lower() for t in turns for w in t.text.split()]
    bigrams = list(zip(words, words[1:], strict=False))
    texts = [t.text.strip().lower() for t in turns]
    repeated = max((texts.count(x) for x in texts), default=0) / max(len(texts), 1)
    looped = np.mean([1 - len(set(t.split())) / max(len(t.split()), 1) for t in texts]) if texts else 0.0
    seeker = [t for t in turns if t.role == "seeker"]
    recommender = [t for t in turns if t.role == "recommender"]
    alternations = sum(a.role != b.role for a, b in zip(turns, turns[1:], strict=False)) / max(len(turns) - 1, 1)
    return [
        min(len(turns), 30) / 10, min(float(np.mean([len(t.text.split()) for t in turns])) if turns else 0.0, 60) / 20,
        len(set(words)) / max(len(words), 1), len(set(bigrams)) / max(len(bigrams), 1), repeated, float(looped),
        float(any(t.role == "recommender" and names_title(t.text, title) for t in turns)),
        float(any(names_title(t.text, title) for t in turns)),
        float(bool(turns) and turns[0].role == "seeker"), alternations,
        sum("?" in t.text for t in seeker) / max(len(seeker), 1),
        sum("?" in t.text for t in recommender) / max(len(recommender), 1),
        sum(len(t.text.split()) <= 6 for t in turns) / max(len(turns), 1),
        len(seeker) / max(len(turns), 1),
    ]


@dataclass(frozen=True)
class Views:
    """Every feature group of one dialogue."""
    groups: dict[str, NDArray[np.float32]]

    def features(self, names: Sequence[str]) -> NDArray[np.float32]:
        return np.concatenate([self.groups[n] for n in names]).astype(np.float32)


def views(turns: Sequence[Turn], title: str, turn_vecs: NDArray[np.float32], title_vec: NDArray[np.float32],
          dialogue_vec: NDArray[np.float32]) -> Views:
    """The feature groups from the dialogue's turn embeddings, its title's and its whole text's."""
    dim = title_vec.shape[0]
    zero = np.zeros(dim, dtype=np.float32)
    roles = [t.role for t in turns]
    rec = turn_vecs[[i for i, r in enumerate(roles) if r == "recommender"]] if "recommender" in roles else zero[None]
    seek = turn_vecs[[i for i, r in enumerate(roles) if r == "seeker"]] if "seeker" in roles else zero[None]
    near = [_cos(turn_vecs[i], turn_vecs[i + 1]) for i in range(len(turns) - 1)] or [0.0]
    skip = [_cos(turn_vecs[i], turn_vecs[i + 2]) for i in range(len(turns) - 2)] or [0.0]
    centroid = turn_vecs.mean(axis=0) if len(turns) else zero
    to_centre = [_cos(v, centroid) for v in turn_vecs] or [0.0]
    flow_scalars = np.array([np.mean(near), np.min(near), np.std(near), np.mean(skip), np.mean(near) - np.mean(skip),
                             np.mean(to_centre), np.min(to_centre)], dtype=np.float32)
    to_title = [_cos(v, title_vec) for v in rec] or [0.0]
    target = np.concatenate([np.array([_cos(dialogue_vec, title_vec), max(to_title), float(np.mean(to_title)),
                                       _cos(rec.mean(axis=0), title_vec)], dtype=np.float32),
                             dialogue_vec * title_vec * np.sqrt(dim)])
    first, last = (turn_vecs[0], turn_vecs[-1]) if len(turns) else (zero, zero)
    return Views({
        "lexical": np.array(lexical(turns, title), dtype=np.float32),
        "target": target.astype(np.float32),
        "flow_scalars": flow_scalars,
        "flow": np.concatenate([flow_scalars, np.array(near[:8] + [0.0] * (8 - len(near[:8])), dtype=np.float32)]),
        "ends": np.concatenate([first, last]).astype(np.float32),
        "roles": np.concatenate([seek.mean(axis=0), rec.mean(axis=0)]).astype(np.float32),
        "dialogue": dialogue_vec.astype(np.float32),
    })


def dialogue_string(turns: Sequence[Turn]) -> str:
    return "\n".join(f"{t.role}: {t.text}" for t in turns)


def embed_views(dialogues: Sequence[tuple[Sequence[Turn], str]], *, progress: bool = False,
                encoder_path: str | None = None, cache: bool = True) -> list[Views]:
    """Views of many (turns, title) pairs, every distinct text encoded once (and, with `cache`, kept on disk: for
    training, where the same texts come back; judging new dialogues skips it)."""
    from lm.embeddings import DEFAULT_CACHE, encode_texts

    texts: dict[str, int] = {}
    for turns, title in dialogues:
        for text in [*(t.text for t in turns), title, dialogue_string(turns)]:
            texts.setdefault(text, len(texts))
    vecs = encode_texts(list(texts), encoder_path, progress=progress, max_seq_length=128,
                        cache_dir=DEFAULT_CACHE if cache else None)
    out = []
    for turns, title in dialogues:
        turn_vecs = vecs[[texts[t.text] for t in turns]] if turns else np.zeros((0, vecs.shape[1]), np.float32)
        out.append(views(turns, title, turn_vecs, vecs[texts[title]], vecs[texts[dialogue_string(turns)]]))
    return out


@dataclass(frozen=True)
class Judge:
    name: str
    groups: tuple[str, ...]
    column: str
    mean: NDArray[np.float32]
    scale: NDArray[np.float32]
    coef: NDArray[np.float32]
    intercept: float
    threshold: float
    auc: float  # held-out AUC (positives against every negative type), as measured at training

    def probability(self, features: NDArray[np.float32]) -> NDArray[np.float32]:
        z = ((features - self.mean) / self.scale) @ self.coef + self.intercept
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


@dataclass(frozen=True)
class PanelVote:
    judge: str
    probability: float
    passed: bool
    column: str
    rationale: str

    @property
    def score(self) -> int:
        return 1 + int(round(4 * self.probability))


class JudgePanel:
    """The trained panel, loaded from `folder` (panel.npz + panel.json)."""

    def __init__(self, judges: list[Judge], meta: dict[str, object]) -> None:
        self.judges, self.meta = judges, meta

    @property
    def names(self) -> list[str]:
        return [j.name for j in self.judges]

    @classmethod
    def load(cls, folder: Path = PANEL_DIR) -> JudgePanel:
        npz, meta_path = folder / "panel.npz", folder / "panel.json"
        if not npz.exists() or not meta_path.exists():
            raise FileNotFoundError(f"{folder}: no trained judge panel (train one with `lumicrs augment train-judges`)")
        arrays = np.load(npz, allow_pickle=False)
        meta = json.loads(meta_path.read_text())
        judges = []
        for entry in meta["judges"]:
            name = entry["name"]
            judges.append(Judge(name, tuple(entry["groups"]), entry["column"], arrays[f"{name}.mean"],
                                arrays[f"{name}.scale"], arrays[f"{name}.coef"], float(entry["intercept"]),
                                float(entry["threshold"]), float(entry["heldout_auc"])))
        return cls(judges, meta)

    def vote_many(self, dialogues: Sequence[tuple[Sequence[Turn], str]], *,
                  progress: bool = False) -> list[list[PanelVote]]:
        """Every judge's vote on each (turns, target title)."""
        all_views = embed_views(dialogues, progress=progress, cache=False)
        out = []
        for v in all_views:
            votes = []
            for judge in self.judges:
                p = float(judge.probability(v.features(judge.groups)[None])[0])
                votes.append(PanelVote(judge.name, p, p >= judge.threshold, judge.column,
                                       f"{QUESTIONS[judge.name]}: p={p:.2f} (passes at {judge.threshold:.2f}; "
                                       f"held-out AUC {judge.auc:.2f})"))
            out.append(votes)
        return out
