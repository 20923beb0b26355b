"""Chat models: the ChatModel protocol and the one OpenAI-compatible client.

Retries are the openai client's own (`max_retries`: it retries only connection errors, timeouts, 408/409/429 and
5xx, and honours `Retry-After`); `deadline_seconds` bounds a whole call, retries and slow bodies included. Every
call runs on one asyncio loop in a background thread (`runtime()`), so a Ctrl+C can cancel calls in flight.
Structured output is negotiated once per endpoint (see `augment.structured`).

Errors, by who is at fault: the server (HTTP status, timeout, refused connection: `LLMError`, or `LLMFatal` when
every call would fail the same way), the reply (a 200 whose body is not a completion: `LLMError` "malformed reply",
not retried), or this program (a bug of ours or an openai client this code does not fit: `ClientFault`, fatal, named
with the openai version, never called a malformed reply). Works with openai 1.x, 2.x (httpx) and 3.x (httpx2): no
httpx object is handed to the client. Async clients are closed at exit, on the loop that made them.
"""
from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import threading
import time
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, SecretStr

from augment.errors import CallCancelled, ClientFault, LLMError, LLMFatal, MalformedReply
from db.secrets import mask_text, mask_url

Message = dict[str, str]
T = TypeVar("T")
FATAL_STATUS = {401: "the API key was refused", 403: "access denied", 404: "unknown model or endpoint path"}


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float | None = None


class ChatModel(Protocol):
    name: str

    def complete(self, messages: list[Message], *, schema: type[BaseModel] | None = None,
                 **params: Any) -> Completion: ...

    def complete_text(self, prompt: str, **params: Any) -> Completion: ...


class Runtime:
    """One event loop in a daemon thread; `cancel_all` cancels every call in flight (Ctrl+C)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.clients: list[Any] = []  # async openai clients made on this loop, closed by close_clients()
        threading.Thread(target=self.loop.run_forever, name="llm-runtime", daemon=True).start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        async def tracked() -> T:
            task = asyncio.current_task()
            assert task is not None
            self.tasks.add(task)
            try:
                return await coro
            finally:
                self.tasks.discard(task)

        return asyncio.run_coroutine_threadsafe(tracked(), self.loop)

    def cancel_all(self) -> None:
        def cancel() -> None:
            for task in list(self.tasks):
                task.cancel()

        self.loop.call_soon_threadsafe(cancel)

    def close_clients(self, timeout: float = 5.0) -> None:
        """Close every async client on its own loop (else each one's finaliser complains at exit)."""
        clients, self.clients = self.clients, []
        if not clients or not self.loop.is_running():
            return

        async def close_all() -> None:
            await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(timeout)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime()
        return _runtime


def close_clients() -> None:
    """Close the async clients of this process (at exit; tests that restart servers may call it too)."""
    if _runtime is not None:
        _runtime.close_clients()


atexit.register(close_clients)


def _forget_runtime_in_child() -> None:
    """A forked child has no loop thread: it starts its own runtime (and asyncio locks) on first use."""
    global _runtime, _runtime_lock
    _runtime, _runtime_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_runtime_in_child)


def cancel_calls_in_flight() -> None:
    if _runtime is not None:
        _runtime.cancel_all()


class OpenAIChat:
    """Any OpenAI-compatible server (OpenAI, vLLM, llama.cpp, Ollama...). The async client is built lazily."""

    def __init__(self, name: str, base_url: str | None, api_key: SecretStr, *, max_retries: int = 4,
                 timeout_seconds: float = 60.0, deadline_seconds: float = 180.0, structured: str = "auto",
                 fold_system: bool | None = None) -> None:
        self.name = name
        self.base_url = base_url
        self._api_key = api_key
        self.max_retries = max_retries
        self.timeout_seconds = timeout_seconds
        self.deadline_seconds = deadline_seconds
        self.structured = structured
        self.fold_system = fold_system
        self._client: Any = None

    # -- public, thread-safe ------------------------------------------------------------------------------------
    def complete(self, messages: list[Message], *, schema: type[BaseModel] | None = None,
                 **params: Any) -> Completion:
        return self._run(self._chat(messages, schema, params))

    def complete_text(self, prompt: str, **params: Any) -> Completion:
        """Plain /v1/completions (base models: few-shot prompts that the model continues)."""
        return self._run(self._text(prompt, params))

    def describe(self, error: str) -> str:
        """One line naming the model and endpoint, credentials masked."""
        return mask_text(f"{self.name} at {mask_url(self.base_url or '')}: {error}", self._api_key.get_secret_value())

    # -- internals ----------------------------------------------------------------------------------------------
    def _run(self, coro: Coroutine[Any, Any, Completion]) -> Completion:
        future = runtime().submit(self._with_deadline(coro))
        try:
            return future.result()
        except (concurrent.futures.CancelledError, asyncio.CancelledError) as exc:
            raise CallCancelled(self.describe("cancelled")) from exc

    async def _with_deadline(self, coro: Coroutine[Any, Any, Completion]) -> Completion:
        import openai

        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.deadline_seconds):
                completion = await coro
        except TimeoutError as exc:
            raise LLMError(self.describe(f"no complete reply within the {self.deadline_seconds:g} s deadline")) from exc
        except openai.APIStatusError as exc:
            raise self._status_error(exc) from exc
        except openai.APITimeoutError as exc:
            raise LLMError(self.describe(f"timed out after {self.max_retries} retries")) from exc
        except openai.APIConnectionError as exc:
            raise LLMError(self.describe(f"cannot connect ({exc.__cause__ or exc}) after {self.max_retries} retries")) \
                from exc
        except MalformedReply as exc:  # a 200 whose body is not a completion
            raise LLMError(self.describe(f"malformed reply ({exc}); not retried")) from exc
        except (LLMError, asyncio.CancelledError):
            raise
        except Exception as exc:  # ours: a bug, or an openai client this code does not fit
            raise ClientFault(self.describe(client_fault_line(exc))) from exc
        return Completion(completion.text, completion.prompt_tokens, completion.completion_tokens,
                          (time.perf_counter() - start) * 1000)

    def _status_error(self, exc: Any) -> LLMError:
        status = exc.status_code
        message = str(getattr(exc, "message", "") or exc)[:300]
        if status in FATAL_STATUS:
            return LLMFatal(self.describe(f"HTTP {status}, {FATAL_STATUS[status]} ({message}); not retried"))
        if status < 500 and status not in (408, 409, 429):
            return LLMError(self.describe(f"HTTP {status}, request rejected ({message}); not retried"))
        return LLMError(self.describe(f"HTTP {status} ({message}) after {self.max_retries} retries"))

    @property
    def client(self) -> Any:
        """The async client, made on first use on the runtime's loop (openai's own Timeout type: httpx's in openai
        1.x/2.x, httpx2's in 3.x)."""
        if self._client is None or self._client.is_closed():  # closed by close_clients(): a new one
            import openai

            self._client = openai.AsyncOpenAI(
                base_url=self.base_url, api_key=self._api_key.get_secret_value(), max_retries=self.max_retries,
                timeout=openai.Timeout(self.timeout_seconds, connect=min(self.timeout_seconds, 10)))
            runtime().clients.append(self._client)
        return self._client

    async def _chat(self, messages: list[Message], schema: type[BaseModel] | None, params: dict[str, Any]) -> Completion:
        from augment.structured import negotiate, response_format

        profile = await negotiate(self, need_schema=schema is not None)
        if profile.drops_system:
            messages = fold_system_prompt(messages)
        extra = {}
        if schema is not None and profile.mode != "prompt":
            extra["response_format"] = response_format(profile.mode, schema)
        client = self.client
        response = await reply_of(client.chat.completions.create(model=self.name, messages=messages, **extra, **params))
        return read_completion(response, lambda choice: choice.message.content)

    async def _text(self, prompt: str, params: dict[str, Any]) -> Completion:
        client = self.client
        response = await reply_of(client.completions.create(model=self.name, prompt=prompt, **params))
        return read_completion(response, lambda choice: choice.text)


async def reply_of(request: Awaitable[Any]) -> Any:
    """The client's parsed reply; a body it could not decode (not JSON, not the expected shape) is a malformed reply.
    Anything else it raises is the client's own (HTTP and connection errors) or ours."""
    import openai

    try:
        return await request
    except (openai.APIResponseValidationError, ValueError) as exc:  # json.JSONDecodeError and pydantic's are ValueErrors
        raise MalformedReply(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else 'no detail'}") \
            from exc


def read_completion(response: Any, text_of: Any) -> Completion:
    """The first choice's text and the token counts; a reply without them is malformed (the server's fault)."""
    try:
        choice = response.choices[0]
        text = text_of(choice)
    except (AttributeError, IndexError, KeyError, TypeError) as exc:
        raise MalformedReply(f"no choices[0] text: {type(exc).__name__}") from exc
    if text is not None and not isinstance(text, str):
        raise MalformedReply(f"choices[0] text is {type(text).__name__}, not a string")
    usage = getattr(response, "usage", None)
    return Completion(text or "", getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None))


def client_fault_line(exc: BaseException) -> str:
    """One line for an error raised by our own code or the openai client itself, never by the server's reply."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        openai_version = version("openai")
    except PackageNotFoundError:
        openai_version = "not installed"
    detail = str(exc).splitlines()[0][:200] if str(exc) else "no detail"
    return (f"client error, not a server reply: {type(exc).__name__}: {detail} (openai {openai_version}; a bug in "
            "this program or an openai version it does not support; the lock's version works: bash scripts/bootstrap.sh)")


def fold_system_prompt(messages: list[Message]) -> list[Message]:
    """System turns folded into the first user turn, for servers whose chat template drops them."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if not system:
        return rest
    if rest and rest[0]["role"] == "user":
        rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
        return rest
    return [{"role": "user", "content": system}, *rest]


__all__ = ["CallCancelled", "ChatModel", "ClientFault", "Completion", "LLMError", "LLMFatal", "Message", "OpenAIChat",
           "cancel_calls_in_flight", "close_clients", "fold_system_prompt", "runtime"]
