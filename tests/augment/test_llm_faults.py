"""The LLM client against a misbehaving server (our fake one, on loopback): retries, deadlines, fail-fast errors,
structured-output negotiation, and the CLI's exit codes and pure --json under failure."""
from __future__ import annotations

import json
import socket
import time

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from augment.errors import LLMError, LLMFatal
from augment.llm import OpenAIChat, fold_system_prompt, runtime
from augment.structured import JudgeReply, Profile, forget_profiles, negotiate
from lumicrs_cli import app
from tests.chat_server import ChatServer, is_probe

SECRET = "sk-test-5ecret-key"
MESSAGES = [{"role": "system", "content": "You are a judge."}, {"role": "user", "content": "Judge this dialogue."}]


def chat(server: ChatServer | str, model: str, **options: object) -> OpenAIChat:
    url = server if isinstance(server, str) else server.base_url
    return OpenAIChat(model, url, SecretStr(SECRET), **{"max_retries": 2, **options})  # type: ignore[arg-type]


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_retry_after_is_honoured(chat_server: ChatServer) -> None:
    reply = chat(chat_server, "limited-judge-pass").complete(MESSAGES)
    assert '"pass": true' in reply.text
    times = [t for model, t, _ in chat_server.request_log if model == "limited-judge-pass"]
    assert len(times) == 2 and times[1] - times[0] >= 0.95  # the server said Retry-After: 1


@pytest.mark.parametrize("model, fatal", [("bad", False), ("notjson", False), ("denied", True)])
def test_errors_that_retrying_cannot_fix_are_not_retried(chat_server: ChatServer, model: str, fatal: bool) -> None:
    with pytest.raises(LLMError) as error:
        chat(chat_server, model, max_retries=4).complete(MESSAGES)
    assert chat_server.calls(model) == 1
    assert isinstance(error.value, LLMFatal) is fatal
    message = str(error.value)
    assert message.startswith(f"{model} at {chat_server.base_url}") and "\n" not in message and SECRET not in message
    assert "not retried" in message


def test_server_errors_are_retried_then_reported(chat_server: ChatServer) -> None:
    with pytest.raises(LLMError, match=r"down at .*HTTP 503.*after 2 retries"):
        chat(chat_server, "down").complete(MESSAGES)
    assert chat_server.calls("down") == 3


@pytest.mark.parametrize("model", ["silent", "drip"])
def test_deadline_bounds_the_whole_call(chat_server: ChatServer, model: str) -> None:
    """A server that never answers, and one that drips its body a byte at a time (each read beats the per-read
    timeout), both end at the call's deadline, retries included."""
    start = time.perf_counter()
    with pytest.raises(LLMError, match="deadline"):
        chat(chat_server, model, timeout_seconds=1.0, deadline_seconds=2.0).complete(MESSAGES)
    assert time.perf_counter() - start < 4.0


def test_the_structured_output_probe_keeps_the_per_read_timeout(chat_server: ChatServer) -> None:
    """Negotiation is a call like any other: a server that never answers the probe fails it after the read timeout,
    long before the call's deadline."""
    forget_profiles()
    start = time.perf_counter()
    with pytest.raises(LLMError, match="timed out") as error:
        chat(chat_server, "silent", max_retries=0, timeout_seconds=1.0, deadline_seconds=30.0).complete(
            MESSAGES, schema=JudgeReply)
    assert time.perf_counter() - start < 10.0 and "deadline" not in str(error.value)


def test_closed_port_fails_with_one_line() -> None:
    start = time.perf_counter()
    with pytest.raises(LLMError, match="cannot connect") as error:
        chat(closed_port_url(), "judge-1", max_retries=1).complete(MESSAGES)
    assert time.perf_counter() - start < 5 and "\n" not in str(error.value)


@pytest.mark.parametrize("model, owner, expected", [
    ("judge-pass", "openai", "json_schema"),             # OpenAI, vLLM
    ("nojsonschema-judge-pass", "me", "json_object"),    # llama.cpp's server: 500 for json_schema, schema beside json_object
])
def test_structured_output_is_negotiated_once(chat_server: ChatServer, model: str, owner: str, expected: str) -> None:
    forget_profiles()
    chat_server.owner = owner
    client = chat(chat_server, model)
    for _ in range(3):
        client.complete(MESSAGES, schema=JudgeReply, temperature=0)
    sent = [request for m, _, request in chat_server.request_log if m == model]
    probes = [r for r in sent if is_probe(r.get("response_format"))]
    real = [r for r in sent if not is_probe(r.get("response_format"))]
    assert len(real) == 3 and len(probes) == (1 if expected == "json_schema" else 2)
    assert {r["response_format"]["type"] for r in real} == {expected}
    schema = real[0]["response_format"].get("schema") or real[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["fluency"]["enum"] == [1, 2, 3, 4, 5]
    roles = {m["role"] for m in real[0]["messages"]}
    assert roles == ({"user"} if owner == "me" else {"system", "user"})  # llama.cpp's gemma template drops system


def test_pinned_prompt_mode_sends_no_response_format(chat_server: ChatServer) -> None:
    chat(chat_server, "judge-pass", structured="prompt").complete(MESSAGES, schema=JudgeReply)
    assert [r.get("response_format") for _, _, r in chat_server.request_log] == [None]


def test_fold_system_prompt_keeps_every_word() -> None:
    folded = fold_system_prompt([{"role": "system", "content": "S"}, {"role": "user", "content": "U"},
                                 {"role": "assistant", "content": "A"}])
    assert folded == [{"role": "user", "content": "S\n\nU"}, {"role": "assistant", "content": "A"}]
    assert fold_system_prompt([{"role": "system", "content": "S"}]) == [{"role": "user", "content": "S"}]


runner = CliRunner()


def _judged_corpus(endpoint: ChatServer) -> None:
    for args in (["augment", "prototypes", "--dataset", "toy"], ["augment", "generate", "--dataset", "toy", "--model", "gen-ok"],
                 ["augment", "filter", "--dataset", "toy"]):
        assert runner.invoke(app, [*args, "--json"]).exit_code == 0


@pytest.mark.slow
def test_cli_exit_codes_and_pure_json_when_calls_fail(endpoint: ChatServer, session_factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from augment.settings import get_settings
    from tests.augment.conftest import build_longtail_corpus

    with session_factory() as s:
        build_longtail_corpus(s)
    _judged_corpus(endpoint)
    monkeypatch.setenv("AUGMENT_MAX_RETRIES", "0")
    get_settings.cache_clear()
    failed = runner.invoke(app, ["augment", "judge", "--dataset", "toy", "--judges", "down", "--json"])
    assert failed.exit_code == 1, failed.output
    summary = json.loads(failed.stdout)  # stdout is only the JSON summary; failures went to stderr
    assert summary["votes_cast"] == 0 and summary["failed_calls"] == summary["candidates"] > 0
    assert "all" in failed.stderr and "calls failed" in failed.stderr

    mixed = runner.invoke(app, ["augment", "judge", "--dataset", "toy", "--judges", "down,judge-pass", "--json"])
    assert mixed.exit_code == 0 and json.loads(mixed.stdout)["votes_cast"] == summary["candidates"]

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    get_settings.cache_clear()
    denied = runner.invoke(app, ["augment", "judge", "--dataset", "toy", "--judges", "denied", "--json"])
    assert denied.exit_code == 2 and denied.stdout == ""
    lines = [line for line in denied.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "denied at http://127.0.0.1" in lines[0] and "HTTP 401" in lines[0]
    assert SECRET not in denied.stderr
    assert endpoint.requests["denied"] == 1  # the run stopped at the first refusal (the probe)

    monkeypatch.setenv("OPENAI_BASE_URL", closed_port_url())
    get_settings.cache_clear()
    start = time.perf_counter()
    unreachable = runner.invoke(app, ["augment", "judge", "--dataset", "toy", "--judges", "judge-fail", "--json"])
    assert unreachable.exit_code == 1 and json.loads(unreachable.stdout)["failed_calls"] == summary["candidates"]
    assert "cannot connect" in unreachable.stderr and time.perf_counter() - start < 10
    get_settings.cache_clear()


@pytest.mark.slow
def test_ctrl_c_stops_judging_then_resume_finishes_without_resending(endpoint: ChatServer, session_factory,  # type: ignore[no-untyped-def]
                                                                     database_url: str) -> None:
    """A real `lumicrs augment judge` process gets SIGINT mid-run: it stops within seconds with exit 130, prints its
    JSON summary (matching the rows written), sends nothing more; the same command then finishes the job with one
    vote per (candidate, judge) and re-sends only the calls that were cancelled in flight."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from sqlalchemy import func, select

    from db.models import JudgeVote
    from tests.augment.conftest import build_longtail_corpus

    with session_factory() as s:
        build_longtail_corpus(s)
    _judged_corpus(endpoint)
    judges = ",".join(f"sleepy-judge-pass#{i}" for i in range(5))
    command = [sys.executable, "-c", "from lumicrs_cli import app; app()", "augment", "judge", "--dataset", "toy",
               "--judges", judges, "--json"]
    env = {**os.environ, "DATABASE_URL": database_url, "AUGMENT_CONCURRENCY": "4"}
    repo = Path(__file__).resolve().parents[2]

    def votes() -> int:
        with session_factory() as s:
            return int(s.scalar(select(func.count()).select_from(JudgeVote)) or 0)

    process = subprocess.Popen(command, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while votes() < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    sent_at = time.monotonic()
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert time.monotonic() - sent_at < 5
    summary = json.loads(out)
    assert summary["interrupted"] is True and 4 <= summary["votes_cast"] == votes() < 60
    assert "run the same command again to resume" in err
    requests_at_exit = sum(endpoint.requests.values())
    time.sleep(2)
    assert sum(endpoint.requests.values()) == requests_at_exit  # nothing queued kept going

    finished = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout)["votes_cast"] == 60 - summary["votes_cast"]
    with session_factory() as s:
        pairs = s.execute(select(JudgeVote.candidate_id, JudgeVote.judge)).all()
    assert len(pairs) == len(set(pairs)) == 60
    judge_bodies = [count for body, count in endpoint.bodies.items() if "sleepy-judge-pass" in body and "Probe" not in body]
    assert len(judge_bodies) == 60 and sum(count > 1 for count in judge_bodies) <= 4  # only calls cut off in flight


def test_the_probe_and_the_schema_request_on_the_wire(chat_server: ChatServer) -> None:
    forget_profiles()
    chat(chat_server, "judge-pass").complete(MESSAGES, schema=JudgeReply)
    (probe, call) = [body for _, _, body in chat_server.request_log]
    assert (probe["max_tokens"], probe["temperature"]) == (16, 0)  # tiny and reproducible
    assert [m["role"] for m in probe["messages"]] == ["user"] and '{"ok": true}' in probe["messages"][0]["content"]
    assert is_probe(probe["response_format"])
    assert call["response_format"]["type"] == "json_schema"
    spec = call["response_format"]["json_schema"]
    assert (spec["name"], spec["strict"]) == ("JudgeReply", False)
    assert set(spec["schema"]["properties"]) >= {"semantic_consistency", "fluency", "plausibility"}


def test_a_server_that_takes_no_response_format_gets_the_prompt_alone(chat_server: ChatServer) -> None:
    forget_profiles()
    reply = chat(chat_server, "noformat-judge-pass").complete(MESSAGES, schema=JudgeReply)
    assert '"pass": true' in reply.text
    *probes, call = [body for _, _, body in chat_server.request_log]
    assert [p["response_format"]["type"] for p in probes] == ["json_schema", "json_object"]
    assert "response_format" not in call


@pytest.mark.parametrize("model", ["denied", "forbidden", "missing"])
def test_a_refused_key_or_unknown_model_stops_at_the_first_probe(chat_server: ChatServer, model: str) -> None:
    forget_profiles()
    for _ in range(2):  # the refusal is remembered: no second probe
        with pytest.raises(LLMFatal):
            chat(chat_server, model).complete(MESSAGES, schema=JudgeReply)
    assert len(chat_server.request_log) == 1


def profile_of(chat_model: OpenAIChat, need_schema: bool = True) -> Profile:
    return runtime().submit(negotiate(chat_model, need_schema=need_schema)).result()


def test_each_endpoint_keeps_its_own_profile_for_the_same_model_name() -> None:
    forget_profiles()
    openai_like, llama_like = ChatServer().start(), ChatServer().start()
    llama_like.owner = "me"
    try:
        assert profile_of(chat(llama_like, "nojsonschema-judge-pass")) == Profile("json_object", True)
        assert profile_of(chat(openai_like, "nojsonschema-judge-pass")) == Profile("json_object", False)
        assert profile_of(chat(openai_like, "judge-pass")) == Profile("json_schema", False)
        assert profile_of(chat(llama_like, "judge-pass")) == Profile("json_schema", True)
    finally:
        openai_like.stop()
        llama_like.stop()


@pytest.mark.parametrize("owner, fold", [("openai", True), ("me", False)])
def test_an_explicit_fold_system_setting_overrides_what_the_server_says(owner: str, fold: bool) -> None:
    forget_profiles()
    server = ChatServer().start()
    server.owner = owner
    try:
        assert profile_of(chat(server, "judge-pass", fold_system=fold)).drops_system is fold
        assert server.model_listings == 0  # not asked: the setting decides
    finally:
        server.stop()


def test_a_server_that_cannot_list_models_keeps_system_turns_and_is_asked_once(chat_server: ChatServer) -> None:
    forget_profiles()
    chat_server.owner = "broken"
    assert profile_of(chat(chat_server, "judge-pass", max_retries=4)) == Profile("json_schema", False)
    assert chat_server.model_listings == 1  # the listing is a hint: never retried


def test_a_call_without_a_schema_sends_the_prompt_alone_and_probes_nothing(chat_server: ChatServer) -> None:
    forget_profiles()
    assert profile_of(chat(chat_server, "judge-pass"), need_schema=False) == Profile("prompt", False)
    assert chat_server.request_log == []
