"""Chat models: the ChatModel protocol and an OpenAI-compatible client with retries and backoff."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import SecretStr

from augment.errors import LLMError
from db.secrets import mask_text

Message = dict[str, str]


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float | None = None


class ChatModel(Protocol):
    name: str

    def complete(self, messages: list[Message], **params: Any) -> Completion: ...


class OpenAIChat:
    """Any OpenAI-compatible /v1/chat/completions server (OpenAI, vLLM, Ollama...). Lazy client."""

    def __init__(self, name: str, base_url: str | None, api_key: SecretStr, *, max_retries: int = 4,
                 backoff_seconds: float = 0.5, timeout_seconds: float = 60.0) -> None:
        self.name = name
        self.base_url = base_url
        self._api_key = api_key
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.timeout_seconds = timeout_seconds
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from openai import OpenAI

            self._client = OpenAI(base_url=self.base_url, api_key=self._api_key.get_secret_value(),
                                  timeout=self.timeout_seconds, max_retries=0)
        return self._client

    def complete(self, messages: list[Message], **params: Any) -> Completion:
        last_error: Exception | None = None
        for attempt in range(self.max_retries + 1):
            start = time.perf_counter()
            try:
                response = self.client.chat.completions.create(model=self.name, messages=messages, **params)
                text = response.choices[0].message.content or ""
                usage = getattr(response, "usage", None)
                return Completion(text, getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None),
                                  (time.perf_counter() - start) * 1000)
            except Exception as exc:  # openai raises many types; all are retried, then reported
                last_error = exc
                if attempt < self.max_retries:
                    time.sleep(self.backoff_seconds * 2 ** attempt)
        secret = self._api_key.get_secret_value()
        raise LLMError(mask_text(f"{self.name} at {self.base_url}: {last_error}", secret)) from last_error
