"""A small emotion lexicon (8 Plutchik emotions) giving each dialogue a distribution over emotions.

A lexicon approximation: no model weights are needed. Dialogues with no emotion words get a uniform vector.
"""
from __future__ import annotations

import re

import numpy as np

EMOTIONS = ("joy", "sadness", "fear", "anger", "surprise", "disgust", "trust", "anticipation")
LEXICON: dict[str, tuple[str, ...]] = {
    "joy": ("love", "loved", "fun", "funny", "happy", "enjoy", "enjoyed", "great", "awesome", "laugh", "hilarious",
            "favorite", "favourite", "amazing", "wonderful", "cute", "sweet", "glad", "lol", "comedy", "feel-good"),
    "sadness": ("sad", "cry", "cried", "tear", "tears", "depressing", "heartbreaking", "tragic", "lonely", "miss",
                "emotional", "drama", "grief", "sorry"),
    "fear": ("scary", "scared", "horror", "creepy", "terrifying", "afraid", "fear", "frightening", "spooky",
             "nightmare", "haunted", "thriller", "suspense", "tense"),
    "anger": ("hate", "hated", "angry", "annoying", "mad", "revenge", "violent", "violence", "furious", "awful"),
    "surprise": ("surprise", "surprised", "twist", "unexpected", "wow", "shocking", "mind-blowing", "whoa"),
    "disgust": ("gross", "disgusting", "gory", "gore", "boring", "stupid", "terrible", "worst", "bad"),
    "trust": ("recommend", "recommended", "classic", "sure", "definitely", "trust", "good", "solid", "best"),
    "anticipation": ("excited", "waiting", "can't", "soon", "upcoming", "new", "check", "watch", "looking",
                     "action", "adventure", "sequel"),
}
_WORD_TO_EMOTION = {word: i for i, emotion in enumerate(EMOTIONS) for word in LEXICON[emotion]}
_TOKEN = re.compile(r"[a-z'\-]+")


def emotion_vector(text: str) -> np.ndarray:
    counts = np.zeros(len(EMOTIONS), dtype=np.float32)
    for token in _TOKEN.findall(text.lower()):
        index = _WORD_TO_EMOTION.get(token)
        if index is not None:
            counts[index] += 1
    total = counts.sum()
    return counts / total if total else np.full(len(EMOTIONS), 1.0 / len(EMOTIONS), dtype=np.float32)


def emotion_matrix(texts: list[str]) -> np.ndarray:
    return np.stack([emotion_vector(t) for t in texts]) if texts else np.zeros((0, len(EMOTIONS)), np.float32)
