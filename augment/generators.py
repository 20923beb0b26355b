"""Dialogue generators: the LLM (prototype-guided prompt) and two offline baselines.

The offline ones reproduce the paper's weak baselines and exist so the pipeline runs with no endpoint:
`baseline-template` (static slot-filling templates) and `baseline-random` (random template sentences).
Neither is an LLM and their output should never be mistaken for LumiCRS augmentation.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Protocol

from augment.llm import ChatModel, Message
from augment.prompts import prompt_hash, render_messages
from augment.structured import extract_json
from db.types import MovieInfo, Turn

ROLE_ALIASES = {"seeker": "seeker", "user": "seeker", "recommender": "recommender", "assistant": "recommender",
                "system": "recommender"}
LINE_RE = re.compile(r"^\s*(seeker|recommender|user|assistant)\s*:\s*(.+)$", re.IGNORECASE)


@dataclass(frozen=True)
class GenerationContext:
    target: MovieInfo
    tier: str
    prototype: tuple[Turn, ...]
    support: tuple[tuple[Turn, ...], ...]


class Generator(Protocol):
    name: str

    def messages(self, ctx: GenerationContext, sample_index: int) -> list[Message]: ...

    def generate(self, ctx: GenerationContext, sample_index: int) -> list[Turn]: ...


def parse_dialogue(text: str) -> list[Turn]:
    """JSON {"turns": [...]} or a list of turns; else 'Seeker: ...' lines. Raises ValueError when neither."""
    try:
        data: Any = extract_json(text)
        raw_turns = data.get("turns") if isinstance(data, dict) else data
        turns = [Turn(role=ROLE_ALIASES[str(t["role"]).lower()], text=str(t["text"]).strip())
                 for t in raw_turns if str(t.get("text", "")).strip()]
    except (ValueError, KeyError, TypeError, AttributeError):
        turns = [Turn(role=ROLE_ALIASES[m.group(1).lower()], text=m.group(2).strip())
                 for m in map(LINE_RE.match, text.splitlines()) if m]
    if len(turns) < 2 or {t.role for t in turns} != {"seeker", "recommender"}:
        raise ValueError("reply is not a two-party dialogue")
    return turns


class LLMGenerator:
    def __init__(self, chat: ChatModel, temperature: float = 0.7, max_tokens: int = 1024) -> None:
        self.chat = chat
        self.name = chat.name
        self.params = {"temperature": temperature, "max_tokens": max_tokens}

    def messages(self, ctx: GenerationContext, sample_index: int) -> list[Message]:
        return render_messages("generate", target=ctx.target, tier=ctx.tier, prototype=ctx.prototype,
                               support=ctx.support[:2], sample_index=sample_index)

    def generate(self, ctx: GenerationContext, sample_index: int) -> list[Turn]:
        reply = self.chat.complete(self.messages(ctx, sample_index), seed=sample_index, **self.params)
        return parse_dialogue(reply.text)


class FewShotGenerator:
    """Prototype-guided few-shot completion for base models (no chat template): the prototype and a support
    dialogue as examples, then the target movie's header and `Seeker:` for the model to continue."""

    def __init__(self, chat: ChatModel, temperature: float = 0.7, max_tokens: int = 256) -> None:
        self.chat = chat
        self.name = f"fewshot:{chat.name}"
        self.params = {"temperature": temperature, "max_tokens": max_tokens, "stop": ["\n\n", "Conversation "]}

    def prompt(self, ctx: GenerationContext) -> str:
        examples = [ctx.prototype, *ctx.support[:1]]
        blocks = ["Conversations in which a Recommender suggests a movie to a Seeker, one turn per line.\n"]
        for number, turns in enumerate(examples, 1):
            lines = "\n".join(f"{t.role.capitalize()}: {t.text[:300]}" for t in turns[:10])
            blocks.append(f"Conversation {number}:\n{lines}\n")
        plot = f" {ctx.target.plot.split('. ')[0].rstrip('.')}." if ctx.target.plot else ""
        blocks.append(f'Conversation {len(examples) + 1} (the Recommender suggests "{ctx.target.title}".{plot}):\nSeeker:')
        return "\n".join(blocks)

    def messages(self, ctx: GenerationContext, sample_index: int) -> list[Message]:
        return [{"role": "completion", "content": f"{self.prompt(ctx)}#{sample_index}"}]

    def generate(self, ctx: GenerationContext, sample_index: int) -> list[Turn]:
        reply = self.chat.complete_text(self.prompt(ctx), seed=sample_index, **self.params)
        return parse_dialogue("Seeker:" + reply.text)


OPENERS = ("Hi! I'm looking for a good {genre} movie tonight.", "Hello, can you recommend a {genre} film?",
           "Hey there. I want something {genre} to watch.")
PITCHES = ("You should watch {title}. {plot}", "Have you seen {title}? {plot}", "I'd recommend {title}. {plot}")
FOLLOW_UPS = ("No, I haven't seen it. What is it like?", "That sounds interesting!", "Is it good?")
CLOSERS = ("It's a great pick if you like {genre} movies.", "I think you'll enjoy {title}.", "Give it a try!")
THANKS = ("Thanks, I'll check it out!", "Great, thank you!", "Sounds good, thanks!")


def _slots(ctx: GenerationContext) -> dict[str, str]:
    plot = ctx.target.plot.split(". ")[0].strip().rstrip(".") + "." if ctx.target.plot else ""
    return {"title": ctx.target.title, "genre": ctx.target.genres[0] if ctx.target.genres else "good", "plot": plot}


class TemplateBaseline:
    """Static slot-filling template (the paper's 'static template' baseline): no LLM."""

    name = "baseline-template"

    def messages(self, ctx: GenerationContext, sample_index: int) -> list[Message]:
        return [{"role": "system", "content": f"{self.name}:{ctx.target.id}:{sample_index}"}]

    def generate(self, ctx: GenerationContext, sample_index: int) -> list[Turn]:
        s, i = _slots(ctx), sample_index
        texts = [OPENERS[i % 3], PITCHES[i % 3], FOLLOW_UPS[i % 3], CLOSERS[i % 3], THANKS[i % 3]]
        roles = ["seeker", "recommender", "seeker", "recommender", "seeker"]
        return [Turn(role=r, text=t.format(**s).strip()) for r, t in zip(roles, texts)]


class RandomBaseline(TemplateBaseline):
    """Random template sentences in random order (the paper's 'random' baseline): no LLM."""

    name = "baseline-random"

    def generate(self, ctx: GenerationContext, sample_index: int) -> list[Turn]:
        rng = random.Random(f"{ctx.target.id}:{sample_index}")
        s = _slots(ctx)
        pools = [("seeker", OPENERS + FOLLOW_UPS + THANKS), ("recommender", PITCHES + CLOSERS)]
        return [Turn(role=role, text=rng.choice(pool).format(**s).strip())
                for _ in range(rng.randint(2, 4)) for role, pool in pools]


OFFLINE_GENERATORS: dict[str, type[TemplateBaseline]] = {"baseline-template": TemplateBaseline,
                                                          "baseline-random": RandomBaseline}


def generation_hash(generator: Generator, ctx: GenerationContext, sample_index: int) -> str:
    return prompt_hash(generator.messages(ctx, sample_index))
