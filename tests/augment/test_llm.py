from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from augment.cache import CachedChat
from augment.errors import LLMError
from augment.llm import OpenAIChat
from db.models import LLMCall
from tests.chat_server import ChatServer

MESSAGES = [{"role": "user", "content": 'Please write a dialogue where the Recommender recommends "Up (2009)"'}]


def client(server: ChatServer, model: str, retries: int = 3) -> OpenAIChat:
    return OpenAIChat(model, server.base_url, SecretStr("k"), max_retries=retries)


def test_completion_reports_tokens_and_latency(chat_server: ChatServer) -> None:
    reply = client(chat_server, "gen-ok").complete(MESSAGES, temperature=0.8)
    assert "Up" in reply.text and reply.prompt_tokens and reply.completion_tokens and reply.latency_ms


def test_retries_with_backoff_then_succeeds(chat_server: ChatServer) -> None:
    reply = client(chat_server, "flaky-judge-pass").complete(MESSAGES)
    assert '"pass": true' in reply.text
    assert chat_server.requests["flaky-judge-pass"] == 3


def test_gives_up_after_retries(chat_server: ChatServer) -> None:
    with pytest.raises(LLMError, match="down"):
        client(chat_server, "down", retries=2).complete(MESSAGES)
    assert chat_server.requests["down"] == 3


def test_cache_avoids_repeated_calls(chat_server: ChatServer, session_factory: sessionmaker[Session]) -> None:
    chat = CachedChat(client(chat_server, "slow-gen-ok"), session_factory)
    first = chat.complete(MESSAGES, temperature=0.8, seed=1)
    again = CachedChat(client(chat_server, "slow-gen-ok"), session_factory).complete(MESSAGES, temperature=0.8, seed=1)
    assert again.text == first.text and chat_server.requests["slow-gen-ok"] == 1
    chat.complete(MESSAGES, temperature=0.8, seed=2)  # different params -> a new call
    assert chat_server.requests["slow-gen-ok"] == 2
    with session_factory() as s:
        rows = list(s.scalars(select(LLMCall)))
        assert len(rows) == 2 and all(r.latency_ms and r.latency_ms >= 300 for r in rows)
        assert rows[0].request["params"] == {"temperature": 0.8, "seed": 1}


def test_a_forked_child_starts_without_the_parents_structured_output_locks() -> None:
    """A lock made on the parent's event loop would hang the child: the at-fork hook drops them (no import cycle)."""
    import asyncio
    import os

    from augment import structured

    structured._locks[("http://x", "m")] = asyncio.Lock()
    pid = os.fork()
    if pid == 0:
        os._exit(0 if not structured._locks else 1)
    _, status = os.waitpid(pid, 0)
    structured._locks.clear()
    assert os.waitstatus_to_exitcode(status) == 0
