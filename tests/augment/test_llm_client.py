"""The OpenAI-compatible client on the installed (locked) openai: a real call, who is blamed when a call fails, a quiet
exit, and the main job's LLM step stopping when every call of a step failed."""
from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from augment.errors import ClientFault, LLMError
from augment.llm import OpenAIChat
from lumicrs_cli import app
from scripts.lockfile import APP_LOCK, pins
from tests.chat_server import ChatServer

REPO = Path(__file__).resolve().parents[2]
MESSAGES = [{"role": "user", "content": 'Please write a dialogue where the Recommender recommends "Up (2009)"'}]


def client(server: ChatServer, model: str) -> OpenAIChat:
    return OpenAIChat(model, server.base_url, SecretStr("k"), max_retries=0)


def test_a_call_succeeds_on_the_locked_openai(chat_server: ChatServer) -> None:
    assert version("openai") == pins(APP_LOCK.read_text())["openai"]
    reply = client(chat_server, "gen-ok").complete(MESSAGES, temperature=0.8)
    assert "Up" in json.loads(reply.text)["turns"][1]["text"]
    assert client(chat_server, "gen-ok").complete_text("Seeker: hi\n", max_tokens=16).text


def test_a_type_error_in_our_client_setup_is_a_client_fault_not_a_malformed_reply(
        chat_server: ChatServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """What openai 3 did to the httpx.Timeout we used to pass: a TypeError while the client is built."""
    import openai

    def refuse(*args: object, **kwargs: object) -> None:
        raise TypeError("timeout must be a float or an httpx2.Timeout")

    monkeypatch.setattr(openai, "AsyncOpenAI", refuse)
    with pytest.raises(ClientFault) as fault:
        client(chat_server, "gen-ok").complete(MESSAGES)
    line = str(fault.value)
    assert "malformed" not in line and "\n" not in line
    assert "client error, not a server reply: TypeError: timeout must be a float" in line
    assert f"openai {version('openai')}" in line
    assert chat_server.calls("gen-ok") == 0


def test_a_type_error_in_the_request_we_build_is_a_client_fault(chat_server: ChatServer) -> None:
    with pytest.raises(ClientFault, match="TypeError"):
        client(chat_server, "gen-ok").complete(MESSAGES, no_such_argument=1)


def test_a_body_that_is_not_a_completion_is_a_malformed_reply_not_a_client_fault(chat_server: ChatServer) -> None:
    with pytest.raises(LLMError) as error:
        client(chat_server, "notjson").complete(MESSAGES)
    assert not isinstance(error.value, ClientFault)
    assert "malformed reply" in str(error.value) and "not retried" in str(error.value)


def test_close_clients_closes_each_async_client_on_its_loop(chat_server: ChatServer) -> None:
    from augment.llm import close_clients, runtime

    chat = client(chat_server, "gen-ok")
    chat.complete(MESSAGES)
    assert chat._client in runtime().clients and not chat._client.is_closed()
    close_clients()
    closed = chat._client
    assert closed.is_closed() and closed not in runtime().clients
    assert "Up" in chat.complete(MESSAGES).text and chat._client is not closed  # a closed client is replaced on use


def test_a_process_that_called_the_endpoint_exits_without_finaliser_noise(chat_server: ChatServer) -> None:
    """The async clients are closed at exit on their own loop: no 'Exception ignored in ...' on stderr."""
    code = ("import sys; from pydantic import SecretStr; from augment.llm import OpenAIChat\n"
            "for model in ('gen-ok', 'judge-pass'):\n"
            f"    OpenAIChat(model, {chat_server.base_url!r}, SecretStr('k')).complete([{{'role': 'user', 'content': 'hi'}}])\n"
            "print('done')")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr, done.stderr


@pytest.mark.slow
def test_the_main_jobs_llm_step_exits_non_zero_with_one_line_when_every_judge_call_fails(
        endpoint: ChatServer, session_factory, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """`lumicrs llm demo` (scripts/run_main.sh's LLM step) with judges that all fail: exit non-zero, one error line,
    nothing routed; the generation step's all-failed case stops before judging."""
    from augment.settings import get_settings
    from tests.augment.conftest import build_longtail_corpus

    with session_factory() as s:
        build_longtail_corpus(s)
    monkeypatch.setenv("AUGMENT_MODEL", "gen-ok")
    monkeypatch.setenv("AUGMENT_JUDGES", json.dumps([f"down#{i}" for i in range(1, 6)]))
    monkeypatch.setenv("AUGMENT_MAX_RETRIES", "0")
    get_settings.cache_clear()
    runner = CliRunner()
    judged = runner.invoke(app, ["llm", "demo", "--dataset", "toy", "--movies", "2", "--samples", "1", "--json"])
    assert judged.exit_code != 0 and judged.stdout == ""
    errors = [line for line in judged.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "judges: all" in errors[0] and "calls failed" in errors[0], judged.stderr
    assert "Traceback" not in judged.stderr

    monkeypatch.setenv("AUGMENT_MODEL", "down")
    get_settings.cache_clear()
    generated = runner.invoke(app, ["llm", "demo", "--dataset", "toy", "--movies", "2", "--samples", "1", "--json"])
    errors = [line for line in generated.stderr.splitlines() if line.startswith("error:")]
    assert generated.exit_code != 0 and len(errors) == 1 and "generation" in errors[0], generated.stderr
    get_settings.cache_clear()
