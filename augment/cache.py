"""Every LLM call cached in the DB by sha256(model + messages + params): a crashed run resumes for free."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from augment.llm import ChatModel, Completion, Message
from db.engine import write_transaction
from db.models import LLMCall


def call_key(model: str, messages: list[Message], params: dict[str, Any]) -> str:
    payload = json.dumps({"model": model, "messages": messages, "params": params}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


class CachedChat:
    """Wraps a ChatModel; each new call is stored in its own short transaction (thread-safe)."""

    def __init__(self, model: ChatModel, session_factory: sessionmaker[Session]) -> None:
        self.model = model
        self.name = model.name
        self.session_factory = session_factory

    def lookup(self, key: str) -> Completion | None:
        with self.session_factory() as session:
            row = session.scalar(select(LLMCall).where(LLMCall.key == key))
            if row is None:
                return None
            return Completion(row.response[0], row.prompt_tokens, row.completion_tokens, row.latency_ms)

    def complete(self, messages: list[Message], *, schema: type[BaseModel] | None = None,
                 **params: Any) -> Completion:
        request = {**params, "schema": schema.__name__} if schema is not None else params
        return self._cached(messages, request, lambda: self.model.complete(messages, schema=schema, **params))

    def text_key(self, prompt: str, params: dict[str, Any]) -> str:
        """The key `complete_text(prompt, **params)` is stored under (the batched writer reads and writes it too)."""
        return call_key(self.name, [{"role": "completion", "content": prompt}], params)

    def store_text(self, prompt: str, params: dict[str, Any], completion: Completion) -> None:
        """Keep a text completion made outside `complete_text` (many at once) as if it had been made through it."""
        self._store(self.text_key(prompt, params), [{"role": "completion", "content": prompt}], params, completion)

    def complete_text(self, prompt: str, **params: Any) -> Completion:
        messages = [{"role": "completion", "content": prompt}]  # stored like a chat call; the role marks the API
        return self._cached(messages, params, lambda: self.model.complete_text(prompt, **params))

    def _cached(self, messages: list[Message], params: dict[str, Any], call: Callable[[], Completion]) -> Completion:
        key = call_key(self.name, messages, params)
        cached = self.lookup(key)
        if cached is not None:
            return cached
        completion = call()
        self._store(key, messages, params, completion)
        return completion

    def _store(self, key: str, messages: list[Message], params: dict[str, Any], completion: Completion) -> None:
        try:
            with write_transaction(self.session_factory) as session:
                session.add(LLMCall(key=key, model=self.name, request={"messages": messages, "params": params},
                                    response=[completion.text], prompt_tokens=completion.prompt_tokens,
                                    completion_tokens=completion.completion_tokens, latency_ms=completion.latency_ms))
        except IntegrityError:
            pass  # another worker stored the same call first
