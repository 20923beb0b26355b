"""Structured output, negotiated once per endpoint and model, and the reply models that validate it.

Modes, best first: `json_schema` (OpenAI, vLLM), `json_object` with the schema beside it (llama.cpp's server, which
answers `json_schema` with HTTP 500 but constrains decoding to the schema given this way), `prompt` (the schema is
only described in the prompt). `AUGMENT_STRUCTURED` pins a mode; `auto` probes with one tiny request per mode.
Servers whose chat template drops system turns (llama.cpp with `--chat_format gemma`) are recognised from
/v1/models and get the system prompt folded into the user turn (`AUGMENT_FOLD_SYSTEM` overrides).
"""
from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

from augment.errors import MalformedReply
from db.rubrics import RUBRIC_KEYS


class Endpoint(Protocol):
    """What negotiation needs of a chat model (augment.llm.OpenAIChat): its endpoint, model and client."""

    name: str
    base_url: str | None
    structured: str
    fold_system: bool | None
    timeout_seconds: float

    @property
    def client(self) -> Any: ...

MODES = ("json_schema", "json_object", "prompt")
LLAMA_CPP_OWNERS = {"me", "llamacpp", "llama.cpp"}
Reply = TypeVar("Reply", bound=BaseModel)


@dataclass(frozen=True)
class Profile:
    mode: str
    drops_system: bool


_modes: dict[tuple[str, str], str] = {}
_drops_system: dict[str, bool] = {}
_locks: dict[tuple[str, str], asyncio.Lock] = {}
_refused: dict[tuple[str, str], Exception] = {}


def forget_locks() -> None:
    """Locks belong to the runtime's event loop; a new loop (a forked child) needs new locks."""
    _locks.clear()


os.register_at_fork(after_in_child=forget_locks)  # a forked child's asyncio locks belong to no loop


def forget_profiles() -> None:
    """Tests and long-lived processes that restart a server call this."""
    _modes.clear()
    _drops_system.clear()
    _locks.clear()
    _refused.clear()


def response_format(mode: str, schema: type[BaseModel]) -> dict[str, Any]:
    body = schema.model_json_schema()
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": schema.__name__, "schema": body, "strict": False}}
    return {"type": "json_object", "schema": body}


async def negotiate(chat: Endpoint, *, need_schema: bool) -> Profile:
    url = chat.base_url or ""
    lock = _locks.setdefault((url, chat.name), asyncio.Lock())
    async with lock:
        if url not in _drops_system:
            _drops_system[url] = await _serves_llama_cpp(chat) if chat.fold_system is None else chat.fold_system
        if (url, chat.name) in _refused:
            raise _refused[(url, chat.name)]  # one refusal (bad key, unknown model) is enough for every waiting call
        mode = chat.structured if chat.structured != "auto" else _modes.get((url, chat.name))
        if mode is None and need_schema:
            try:
                mode = _modes[(url, chat.name)] = await _probe_mode(chat)
            except Exception as exc:
                if getattr(exc, "status_code", None) in (401, 403, 404):
                    _refused[(url, chat.name)] = exc
                raise
    return Profile(mode or "prompt", _drops_system[url])


async def _serves_llama_cpp(chat: Endpoint) -> bool:
    import openai

    from augment.llm import reply_of

    try:
        models = await reply_of(chat.client.with_options(max_retries=0, timeout=10).models.list())
    except (openai.APIStatusError, openai.APIConnectionError, MalformedReply):
        return False  # not every server lists models; the call itself reports real connection problems
    return any(getattr(m, "owned_by", None) in LLAMA_CPP_OWNERS for m in getattr(models, "data", None) or [])


async def _probe_mode(chat: Endpoint) -> str:
    import openai

    from augment.llm import reply_of

    probe = chat.client.with_options(max_retries=0, timeout=chat.timeout_seconds)
    for mode in MODES[:-1]:
        try:
            await reply_of(probe.chat.completions.create(
                model=chat.name, max_tokens=16, temperature=0,
                messages=[{"role": "user", "content": 'Reply with the JSON object {"ok": true}.'}],
                response_format=response_format(mode, Probe)))
            return mode
        except openai.APIStatusError as exc:
            if exc.status_code in (401, 403, 404):
                raise
        except MalformedReply:
            continue  # the mode's reply was not a completion: try the next
    return "prompt"


def _whole_number(value: Any) -> Any:
    """'4' and 4.0 are 4; True is not a score."""
    if isinstance(value, bool):
        raise ValueError("a score is a number, not true/false")
    if isinstance(value, str) and value.strip().isdigit():  # "-3" stays a string: out of range either way
        return int(value)
    return value


Score = Annotated[Literal[1, 2, 3, 4, 5], BeforeValidator(_whole_number)]


class Probe(BaseModel):
    ok: bool


class JudgeReply(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    semantic_consistency: Score
    fluency: Score
    plausibility: Score
    passed: bool | None = Field(default=None, alias="pass")
    rationale: str = ""


class ScoresOnlyJudgeReply(BaseModel):
    """The three scores alone, for the local placeholder judges (a vote passes when all three pass): their rationales
    are noise, and under a grammar over Gemma 3's 262k-token vocabulary each token costs ~0.1 s on 2 cores (a
    run-on rationale took 20 s; the scores alone are ~30 tokens)."""

    model_config = ConfigDict(extra="forbid")
    semantic_consistency: Score
    fluency: Score
    plausibility: Score


RubricReply: type[BaseModel] = create_model("RubricReply", **{key: (Score, ...) for key in RUBRIC_KEYS})  # type: ignore[call-overload]


class RelevanceReply(BaseModel):
    scores: dict[str, float]


def extract_json(text: str) -> Any:
    """The first JSON object/array in a reply (models wrap JSON in prose or ``` fences; raw newlines tolerated)."""
    decoder = json.JSONDecoder(strict=False)
    for index, char in enumerate(text):
        if char in "{[":
            try:
                return decoder.raw_decode(text[index:])[0]
            except json.JSONDecodeError:
                continue
    raise ValueError("no JSON found in reply")


def parse_reply(text: str, model: type[Reply]) -> Reply | None:
    """The reply validated against its model, or None when it is not valid JSON of that shape."""
    try:
        return model.model_validate(extract_json(text))
    except (ValueError, ValidationError):
        return None
