"""Secrets never appear in output: database passwords, credentials inside endpoint URLs, API keys."""
from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy import make_url
from typer.testing import CliRunner

from augment.errors import LLMError
from augment.llm import OpenAIChat
from db.secrets import mask_text, mask_url
from db.settings import get_settings
from lumicrs_cli import app


def test_mask_url_and_text() -> None:
    assert mask_url("postgresql+psycopg://ann:s3cr3t@db:5432/lumi") == "postgresql+psycopg://ann:***@db:5432/lumi"
    assert mask_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert "tok" not in mask_text("GET https://user:tok@host/v1 failed; key sk-123", "sk-123")
    assert "sk-123" not in mask_text("GET https://user:tok@host/v1 failed; key sk-123", "sk-123")


def test_db_upgrade_does_not_print_the_password(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("SQLite URLs carry no password")
    with_password = url.set(password="hunter2-secret").render_as_string(hide_password=False)  # trust auth ignores it
    monkeypatch.setenv("DATABASE_URL", with_password)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "hunter2-secret" not in result.output and "***" in result.output


def test_llm_errors_mask_endpoint_credentials_and_key() -> None:
    chat = OpenAIChat("judge-1", "http://bob:pa55word@127.0.0.1:9/v1", SecretStr("sk-very-secret"), max_retries=0,
                      timeout_seconds=1)
    with pytest.raises(LLMError) as info:
        chat.complete([{"role": "user", "content": "hi"}])
    assert "pa55word" not in str(info.value) and "sk-very-secret" not in str(info.value)
    assert "judge-1" in str(info.value)


@pytest.mark.parametrize(("url", "secret"), [
    ("postgresql+psycopg://ann@db/lumi?password=qs-secret&sslmode=require", "qs-secret"),
    ("http://127.0.0.1:8000/v1?api_key=sk-in-query", "sk-in-query"),
    ("http://host/v1?token=t0k3n&x=1", "t0k3n"),
    ("https://ann:pw-in-userinfo@ls.example/api?access_token=a1", "pw-in-userinfo"),
    ("postgresql://u:p%40ss@h/db?sslpassword=ssl-secret", "ssl-secret"),
])
def test_one_mask_for_every_url_query_string_included(url: str, secret: str) -> None:
    assert secret not in mask_url(url) and "***" in mask_url(url)
    assert secret not in mask_text(f"failed calling {url} (503)") and "***" in mask_text(f"failed calling {url} (503)")
    assert mask_url("http://host/v1?model=x&n=2") == "http://host/v1?model=x&n=2"  # nothing secret: unchanged
    assert "sslmode=require" in mask_url("postgresql+psycopg://ann@db/lumi?password=x&sslmode=require")


def test_an_unreachable_or_refusing_database_is_one_line_exit_2(monkeypatch: pytest.MonkeyPatch,
                                                                  postgres_admin_url: str) -> None:
    unknown_db = make_url(postgres_admin_url).set(database="no_such_database_here")
    cases = {"postgresql+psycopg://ann@127.0.0.1:1/lumi?password=qs-secret-1": "qs-secret-1",
             unknown_db.render_as_string(hide_password=False) + "?password=qs-secret-2": "qs-secret-2"}
    for url, secret in cases.items():
        monkeypatch.setenv("DATABASE_URL", url)
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(app, ["db", "upgrade"])
        finally:
            get_settings.cache_clear()
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2, result.output
        assert len(lines) == 1 and lines[0].startswith("error: cannot use the database at "), result.output
        assert secret not in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(("url", "shown"), [
    ("sqlite:////abs/path/app.db", "sqlite:////abs/path/app.db"),  # printed as given: four slashes stay four
    ("sqlite:///./app.db", "sqlite:///./app.db"),
    ("sqlite:///app.db?mode=ro", "sqlite:///app.db?mode=ro"),
    ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),  # an unencoded '@' in the password
    ("https://ann:pw/x@ls.example/api", "https://ann:***@ls.example/api"),  # a '/' in it
    ("http://sk-token-as-user@host/v1", "http://***@host/v1"),  # a token as the user name
    ("https://ls.example/#access_token=a1b2&x=1", "https://ls.example/#access_token=***&x=1"),  # in the fragment
    ("http://host/path/@handle", "http://host/path/@handle"),  # an '@' in the path is not a credential
])
def test_urls_are_shown_as_given_with_only_their_secrets_masked(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert mask_text(f"cannot use {url}: refused") == f"cannot use {shown}: refused"


SECRETS = ("pw@rd-1", "tok-in-user-2", "qs-key-3", "frag-tok-4")


@pytest.mark.slow
def test_a_secret_in_any_url_setting_never_reaches_any_output(endpoint, session_factory,  # type: ignore[no-untyped-def]
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Every URL setting (the LLM endpoint, a separate judge endpoint, Label Studio, the database) carrying secrets in
    each URL part, through the commands that print a URL, as text and as JSON: no secret in stdout or stderr."""
    from augment.settings import get_settings as augment_settings
    from tests.augment.conftest import build_longtail_corpus

    with session_factory() as s:
        build_longtail_corpus(s)
    llm = endpoint.base_url.replace("http://", f"http://{SECRETS[1]}@") + f"?api_key={SECRETS[2]}#access_token={SECRETS[3]}"
    monkeypatch.setenv("OPENAI_BASE_URL", llm)
    monkeypatch.setenv("AUGMENT_JUDGE_BASE_URL", llm.replace(SECRETS[1], f"judge:{SECRETS[0]}"))
    monkeypatch.setenv("AUGMENT_MODEL", "gen-ok")
    monkeypatch.setenv("AUGMENT_JUDGES", '["down#1", "judge-pass#2"]')
    monkeypatch.setenv("AUGMENT_MAX_RETRIES", "0")
    monkeypatch.setenv("LABELSTUDIO_URL", f"http://{SECRETS[1]}@127.0.0.1:9/?access_token={SECRETS[3]}")
    augment_settings.cache_clear()
    runner = CliRunner()
    outputs = []
    for args in (["llm", "demo", "--dataset", "toy", "--movies", "1", "--samples", "1"],
                 ["augment", "judge", "--dataset", "toy"], ["annotate", "push"], ["annotate", "pull"]):
        for as_json in ([], ["--json"]):
            result = runner.invoke(app, [*args, *as_json])
            outputs.append((args[1], result.output))
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://ann:{SECRETS[0]}@127.0.0.1:9/lumi?sslpassword={SECRETS[2]}")
    get_settings.cache_clear()
    outputs.append(("db upgrade", runner.invoke(app, ["db", "upgrade"]).output))
    get_settings.cache_clear()
    augment_settings.cache_clear()
    leaked = [(command, secret) for command, output in outputs for secret in SECRETS if secret in output]
    assert not leaked, leaked
    assert any("***@127.0.0.1" in output for _, output in outputs)  # the URLs are shown, masked
