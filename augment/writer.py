"""The dialogue writer: LoRA on the packaged base Gemma 3 270M, trained on the train split to write a whole dialogue
in which the recommender recommends a given movie, following a prototype dialogue of another movie of the same tier.

Training pairs: every train dialogue whose recommender names a movie; its target is the first movie a recommender
turn names; its prototype is the nearest other train dialogue by the composite similarity (augment.similarity, the
one `augment prototypes` uses) whose own target is another movie of the same tier and that never mentions this
target, so the writer learns to follow a prototype without copying it. One prompt (`writer_prompt`) serves training
and generation. Training and generation are the shared language-model module's (lm/language_model.py).
"""
from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field
from sqlalchemy.orm import Session

from augment.generators import GenerationContext, parse_dialogue
from augment.llm import Message
from augment.writer_checks import repeats, request_agreement, role_error, self_contradiction
from db.queries.candidates import names_title
from db.types import Dialogue, MovieInfo, Turn, merge_turns
from lm.language_model import FineTuneConfig

ADAPTER_DIR = Path(__file__).resolve().parent / "writer_adapter"  # the shipped adapter (see its provenance.json)


class WriterConfig(FineTuneConfig):
    """`lumicrs train-writer --config configs/redial_writer.yaml`."""

    valid_fraction: float = Field(default=0.05, gt=0.0, lt=1.0)  # held-out train conversations for the valid loss
    plot_words: int = Field(default=25, ge=0)
    prototype_turns: int = Field(default=6, ge=1)  # prototype turns shown in the prompt
    dialogue_turns: int = Field(default=8, ge=2)  # turns of the written dialogue learned (after merging)
    turn_chars: int = Field(default=200, ge=20)  # every turn cut to this many characters
    max_length: int = Field(default=384, ge=64)  # prompt + dialogue tokens
    steps: int = Field(default=120, ge=0)
    batch_size: int = Field(default=2, ge=1)
    lr: float = 3e-4
    valid_rows: int = Field(default=16, ge=1)
    max_new_tokens: int = Field(default=200, ge=16)
    output: Path = ADAPTER_DIR


@dataclass(frozen=True)
class WriterPair:
    conversation_id: int
    target: MovieInfo
    tier: str
    prototype: tuple[Turn, ...]
    dialogue: tuple[Turn, ...]


def dialogue_lines(turns: Sequence[Turn], max_turns: int, turn_chars: int) -> str:
    return "\n".join(f"{'Seeker' if t.role == 'seeker' else 'Recommender'}: {' '.join(t.text.split())[:turn_chars]}"
                     for t in merge_turns(turns)[:max_turns])


def writer_prompt(target: MovieInfo, tier: str, prototype: Sequence[Turn], cfg: WriterConfig) -> str:
    """What the writer continues: the target movie, its tier, the prototype dialogue, then the instruction."""
    facts = [target.title, *([", ".join(target.genres[:3])] if target.genres else []), f"{tier} tier"]
    plot = " ".join(target.plot.split()[:cfg.plot_words])
    return (f"Movie: {' | '.join(facts)}\n" + (f"Plot: {plot}\n" if plot else "")
            + "Example conversation about another movie:\n"
            + dialogue_lines(prototype, cfg.prototype_turns, cfg.turn_chars)
            + f'\nA new conversation in which the Recommender recommends "{target.title}":\n')


def names_target(turns: Sequence[Turn], title: str) -> bool:
    """A recommender turn names the movie (db.queries.candidates.names_title, the rule that tags mentions)."""
    return any(t.role == "recommender" and names_title(t.text, title) for t in turns)


def reviewer_ready(turns: Sequence[Turn], target: MovieInfo) -> bool:
    """What a reviewer checks first (augment/writer_checks.py), as far as a try can fail it: the recommender names
    the target; no role error; no repeated turn; no recommender saying they have not seen the target they
    recommend; and the seeker's request does not ask for genres the target lacks (and none it has)."""
    return (names_target(turns, target.title) and not role_error(turns) and not repeats(turns)
            and not self_contradiction(turns, target.title)
            and request_agreement(turns, target.title, target.genres, ()) != "contradicts")


def first_recommended(dialogue: Dialogue) -> int | None:
    for turn in dialogue.turns:
        if turn.role == "recommender" and turn.movie_ids:
            return turn.movie_ids[0]
    return None


def writer_pairs(session: Session, cfg: WriterConfig, weights: Any, *, progress: bool = True) -> list[WriterPair]:
    """The training pairs of the module docstring, in dialogue order."""
    from augment.emotion import emotion_matrix
    from augment.prototypes import dialogue_text
    from augment.similarity import top_k_neighbours
    from db.queries.corpus import list_dialogues, list_movies
    from db.queries.longtail import movie_tiers
    from lm.embeddings import encode_texts

    dialogues = list_dialogues(session, cfg.dataset, cfg.train_splits)
    tiers = movie_tiers(session, cfg.dataset, splits=cfg.train_splits)
    movies = {m.id: m for m in list_movies(session, cfg.dataset)}
    targets = [first_recommended(d) for d in dialogues]
    texts = [dialogue_text(d) for d in dialogues]
    movie_sets = [{m for t in d.turns for m in t.movie_ids} for d in dialogues]
    neighbours, _ = top_k_neighbours(encode_texts(texts, progress=progress), emotion_matrix(texts), movie_sets,
                                     weights, 20)
    pairs = []
    for row, (dialogue, target) in enumerate(zip(dialogues, targets, strict=True)):
        if target is None or target not in movies or target not in tiers \
                or not names_target(merge_turns(dialogue.turns)[:cfg.dialogue_turns], movies[target].title):
            continue
        for other in neighbours[row]:
            other_target = targets[other]
            if other_target not in (None, target) and tiers.get(other_target) == tiers[target] \
                    and target not in movie_sets[other]:
                pairs.append(WriterPair(dialogue.conversation_id or 0, movies[target], tiers[target],
                                        dialogues[other].turns, dialogue.turns))
                break
    return pairs


def pair_texts(pair: WriterPair, cfg: WriterConfig) -> tuple[str, str]:
    return (writer_prompt(pair.target, pair.tier, pair.prototype, cfg),
            dialogue_lines(pair.dialogue, cfg.dialogue_turns, cfg.turn_chars) + "\n")


def data_digest(texts: Sequence[tuple[str, str]]) -> str:
    """sha256 of the exact (prompt, dialogue) texts trained on, one JSON line each."""
    digest = hashlib.sha256()
    for prompt, target in texts:
        digest.update((json.dumps([prompt, target], ensure_ascii=False) + "\n").encode())
    return digest.hexdigest()


def adapter_digest(adapter: Path) -> str:
    return hashlib.sha256((adapter / "adapter_model.safetensors").read_bytes()).hexdigest()


def shipped_config(adapter: Path = ADAPTER_DIR) -> WriterConfig:
    """The config the adapter was trained with (its provenance.json), so generation prompts are the training ones."""
    provenance = adapter / "provenance.json"
    if not provenance.exists():
        raise FileNotFoundError(f"{provenance}: no writer adapter provenance (train one: lumicrs train-writer "
                                "--config configs/redial_writer.yaml)")
    return WriterConfig.model_validate({**json.loads(provenance.read_text())["config"], "output": adapter})


def writer_seed(target_id: int, sample_index: int, attempt: int) -> int:
    """Each (target, sample, try) its own random stream: sample 0 of two movies never shares one."""
    return zlib.crc32(f"{target_id}:{sample_index}:{attempt}".encode())


class WriterGenerator:
    """`augment generate --generator local-writer`: the writer's prompt for each prototype, sampled per index.

    Up to `tries` samples (each its own seed) until one is accepted: the recommender names the target by title
    (`names_target`, a check that needs no model), and with `checks` the try also passes the reviewer's first checks
    (`reviewer_ready`). When none is accepted, the first that names the target is kept, else the first parseable
    one, and the filter and judges decide."""

    def __init__(self, chat: Any, cfg: WriterConfig, temperature: float = 0.7, tries: int = 1, batch: int = 1,
                 checks: bool = False) -> None:
        self.chat, self.cfg, self.batch = chat, cfg, batch  # batch > 1: augment generate writes that many at once
        self.checks = checks
        self.name = chat.name
        self.tries = tries if temperature > 0 else 1  # greedy decoding gives the same dialogue every try
        self.params = {"temperature": temperature, "max_tokens": cfg.max_new_tokens, "stop": ["\n\n"]}

    def prompt(self, ctx: GenerationContext) -> str:
        return writer_prompt(ctx.target, ctx.tier, ctx.prototype, self.cfg)

    def messages(self, ctx: GenerationContext, sample_index: int) -> list[Message]:
        return [{"role": "completion", "content": f"{self.prompt(ctx)}#{sample_index}"}]

    def sample(self, ctx: GenerationContext, sample_index: int, attempt: int) -> list[Turn]:
        reply = self.chat.complete_text(self.prompt(ctx), seed=writer_seed(ctx.target.id, sample_index, attempt),
                                        **self.params)
        return self.dialogue_from(reply.text, reply.completion_tokens)

    def dialogue_from(self, text: str, completion_tokens: int | None) -> list[Turn]:
        """The dialogue in a reply (ValueError when there is none): up to its first blank line, without a last turn
        the token limit cut."""
        text = text.split("\n\n", 1)[0].strip()
        if completion_tokens is not None and completion_tokens >= self.cfg.max_new_tokens:
            text = text.rsplit("\n", 1)[0]  # the token limit cut the last turn: drop it
        return parse_dialogue(text)

    def generate(self, ctx: GenerationContext, sample_index: int) -> list[Turn]:
        return self.generate_counting(ctx, sample_index)[0]

    def generate_counting(self, ctx: GenerationContext, sample_index: int) -> tuple[list[Turn], int]:
        """The dialogue and how many samples it took (tries made one by one, stopping at the first that names the
        target)."""
        turns, used, error = self.choose(ctx, self._tries(ctx, sample_index))
        if not turns:
            assert error is not None
            raise error
        return turns, used

    def _tries(self, ctx: GenerationContext, sample_index: int) -> Iterator[list[Turn] | ValueError]:
        for attempt in range(self.tries):
            try:
                yield self.sample(ctx, sample_index, attempt)
            except ValueError as exc:
                yield exc

    def accepted(self, ctx: GenerationContext, turns: Sequence[Turn]) -> bool:
        """A try that ends the sampling (the class docstring's rule)."""
        return reviewer_ready(turns, ctx.target) if self.checks else names_target(turns, ctx.target.title)

    def choose(self, ctx: GenerationContext,
               tries: Iterable[list[Turn] | ValueError]) -> tuple[list[Turn], int, ValueError | None]:
        """The rule of the class docstring over tries in order (a ValueError: a reply that is no dialogue): the first
        accepted, else the first that names the target, else the first that parsed (empty: none did); the tries
        read; the first error."""
        naming: list[Turn] = []
        kept: list[Turn] = []
        error: ValueError | None = None
        used = 0
        for used, turns in enumerate(tries, 1):
            if isinstance(turns, ValueError):
                error = error or turns
                continue
            if self.accepted(ctx, turns):
                return turns, used, None
            if not naming and names_target(turns, ctx.target.title):
                naming = turns
            kept = kept or turns
        return naming or kept, used, error
