"""The response generator's prompts: one recommender turn given the context and the recommended movie. Training and
generation are the shared language-model module's (lm/language_model.py)."""
from __future__ import annotations

from collections.abc import Callable

from db.types import MovieInfo
from lm.language_model import LanguageModel, encode_pair
from trainer.config import ResponderConfig
from trainer.conversation_data import ResponseSample, render_prompt

Tokenize = Callable[[str], list[int]]  # text -> token ids, beginning-of-text first


def hf_tokenize(lm: LanguageModel) -> Tokenize:
    return lambda text: list(lm.tokenizer(text)["input_ids"])


def fit_prompt(tokenize: Tokenize, sample: ResponseSample, movie: MovieInfo | None, cfg: ResponderConfig,
               budget: int) -> list[int]:
    """The prompt's token ids within `budget`: the oldest context turns go first, then (one huge turn) its start.
    `tokenize`: the transformers tokenizer (hf_tokenize) or llama.cpp's, which give the same ids."""
    for keep in range(len(sample.context), -1, -1):
        prompt = tokenize(render_prompt(sample, movie, cfg.plot_words, keep))
        if len(prompt) <= budget:
            return list(prompt)
    return list(prompt[:1]) + list(prompt[len(prompt) - budget + 1:])


def encode_example(lm: LanguageModel, sample: ResponseSample, movie: MovieInfo | None,
                   cfg: ResponderConfig) -> tuple[list[int], list[int]]:
    """(input ids, labels): the loss is on the response only."""
    target = f" {sample.reference}\n"
    budget = cfg.max_length // 2
    length = min(len(lm.tokenizer(target, add_special_tokens=False)["input_ids"]), budget) + 1
    return encode_pair(lm, fit_prompt(hf_tokenize(lm), sample, movie, cfg, cfg.max_length - length), target,
                       budget)


def clean_response(text: str) -> str:
    line = text.strip().split("\n", 1)[0].strip()
    for speaker in ("Seeker:", "Recommender:"):
        line = line.split(speaker, 1)[0].strip()
    return line
