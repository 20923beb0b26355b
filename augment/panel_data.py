"""The local judges' training data: real train dialogues (positives) and negatives made from them, one type per
question a judge answers. Held out by conversation: the split is a hash of the conversation id, so a held-out
conversation never reaches training, whatever the seed.

Negative types (each from one real dialogue; `target` is the movie its recommender names first):
- target_swap: the same turns, the target replaced by another movie of the same tier (not about its target);
- unnamed: the target's title taken out of every turn (what a writer dialogue that fails the name check looks like);
- shuffled: the turns in a random order (each keeps its speaker);
- roles_swapped: every seeker turn made a recommender turn and back;
- spliced: one recommender turn replaced by a recommender turn of another dialogue;
- repetition: one turn repeated three times and a phrase looped inside it (degenerate sampling);
- template: the static slot-filling template dialogue for the target (augment.generators.TemplateBaseline).
"""
from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from augment.generators import GenerationContext, TemplateBaseline
from db.types import MovieInfo, Turn

NEGATIVE_TYPES = ("target_swap", "unnamed", "shuffled", "roles_swapped", "spliced", "repetition", "template")
SPLITS = ("train", "validation", "heldout")


@dataclass(frozen=True)
class Example:
    conversation: str  # "dataset:external id": the key of the split
    turns: tuple[Turn, ...]
    target: MovieInfo
    label: int  # 1: a real dialogue about its target; 0: a negative
    kind: str  # "real" or a NEGATIVE_TYPES entry


def split_of(conversation: str) -> str:
    """70% train, 10% validation (thresholds, choices), 20% held out (reported only): by a hash of the conversation's
    dataset and external id (the same in every database)."""
    bucket = int(hashlib.sha256(f"judge-panel:{conversation}".encode()).hexdigest()[:8], 16) % 10
    return "train" if bucket < 7 else "validation" if bucket == 7 else "heldout"


def _short(title: str) -> str:
    return title.rsplit(" (", 1)[0]


def without_title(turns: Sequence[Turn], title: str) -> tuple[Turn, ...]:
    pattern = re.compile(re.escape(_short(title)) + r"(\s*\(\d{4}\))?", re.IGNORECASE)
    return tuple(Turn(role=t.role, text=pattern.sub("that movie", t.text)) for t in turns)


def negative(kind: str, turns: tuple[Turn, ...], target: MovieInfo, rng: random.Random, *,
             same_tier: Sequence[MovieInfo], other_turns: Sequence[Turn]) -> tuple[tuple[Turn, ...], MovieInfo]:
    """(turns, target) of one negative of `kind` made from a real dialogue."""
    if kind == "target_swap":
        choices = [m for m in same_tier if m.id != target.id and _short(m.title).lower() != _short(target.title).lower()]
        return turns, rng.choice(choices)
    if kind == "unnamed":
        return without_title(turns, target.title), target
    if kind == "shuffled":
        order = list(range(len(turns)))
        while order == sorted(order):
            rng.shuffle(order)
        return tuple(turns[i] for i in order), target
    if kind == "roles_swapped":
        flip = {"seeker": "recommender", "recommender": "seeker"}
        return tuple(Turn(role=flip[t.role], text=t.text) for t in turns), target  # type: ignore[arg-type]
    if kind == "spliced":
        at = [i for i, t in enumerate(turns) if t.role == "recommender"] or [len(turns) - 1]
        i = rng.choice(at)
        foreign = rng.choice([t for t in other_turns if t.role == "recommender"] or list(other_turns))
        return turns[:i] + (Turn(role=turns[i].role, text=foreign.text),) + turns[i + 1:], target
    if kind == "repetition":
        i = rng.randrange(len(turns))
        words = turns[i].text.split()
        loop = " ".join(words[:4] * 6) if words else "ok ok ok ok"
        looped = Turn(role=turns[i].role, text=loop)
        return turns[:i] + (looped, looped, looped) + turns[i + 1:], target
    if kind == "template":
        sample = rng.randrange(3)
        return tuple(TemplateBaseline().generate(GenerationContext(target=target, tier="tail", prototype=(), support=()),
                                                 sample)), target
    raise ValueError(f"unknown negative type {kind!r}")


def make_examples(dialogues: Sequence[tuple[str, tuple[Turn, ...], MovieInfo]], tiers: Mapping[int, str],
                  movies: dict[int, MovieInfo], *, negatives_per_dialogue: int = 2,
                  seed: int = 0) -> list[Example]:
    """Per real dialogue: itself (label 1) and `negatives_per_dialogue` negatives, their types taken in turn so every
    type has as many; the foreign turn of a splice comes from another dialogue (of any split: only its text is used)."""
    rng = random.Random(seed)
    by_tier: dict[str, list[MovieInfo]] = {}
    for movie_id, tier in tiers.items():
        if movie_id in movies:
            by_tier.setdefault(tier, []).append(movies[movie_id])
    out: list[Example] = []
    k = 0
    for index, (conversation, turns, target) in enumerate(dialogues):
        out.append(Example(conversation, turns, target, 1, "real"))
        for _ in range(negatives_per_dialogue):
            kind = NEGATIVE_TYPES[k % len(NEGATIVE_TYPES)]
            k += 1
            other = dialogues[(index + 1 + rng.randrange(max(len(dialogues) - 1, 1))) % len(dialogues)][1]
            pool = by_tier.get(tiers.get(target.id, "tail"), []) or list(movies.values())
            neg_turns, neg_target = negative(kind, turns, target, rng, same_tier=pool, other_turns=other)
            out.append(Example(conversation, neg_turns, neg_target, 0, kind))
    return out
