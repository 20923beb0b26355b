"""The pipeline against the real local engine (llama.cpp + the packaged Gemma 3 270M), through the CLI.

Shape and plumbing only: the placeholder model's content is never judged here."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from augment.llm import OpenAIChat, runtime
from augment.settings import get_settings
from augment.structured import JudgeReply, Profile, negotiate, parse_reply
from db.models import Candidate, JudgeVote, LLMCall, Rating, RelevanceLabel
from lm.placeholder_model import PLACEHOLDER_MODEL
from lumicrs_cli import app
from tests.augment.conftest import build_longtail_corpus
from tests.factories import make_rating_queue

pytestmark = pytest.mark.slow
runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
JUDGE_PROMPT = [{"role": "system", "content": "You judge movie-recommendation dialogues. Reply with JSON only."},
                {"role": "user", "content": "Seeker: I want a scary movie.\nRecommender: Try The Shining (1980).\n"
                                            'Example reply: {"semantic_consistency": 4, "fluency": 5, "plausibility": 4}'}]


def cli(*args: str) -> dict[str, object]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_llama_cpp_gets_json_object_with_schema_and_folded_system(local_engine: str) -> None:
    chat = OpenAIChat("judge-1", local_engine, SecretStr("unused"), max_retries=1, deadline_seconds=60)
    reply = chat.complete(JUDGE_PROMPT, schema=JudgeReply, temperature=0, max_tokens=80)
    assert parse_reply(reply.text, JudgeReply) is not None  # constrained decoding: the schema's enums hold
    assert reply.completion_tokens and reply.latency_ms
    profile = runtime().submit(negotiate(chat, need_schema=True)).result()
    assert profile == Profile("json_object", True)  # json_schema is refused by this server; system turns are dropped


def test_generate_judge_route_rate_and_score_relevance_through_the_cli(
        local_endpoint: str, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUGMENT_JUDGES", '["judge-1", "judge-2"]')
    get_settings.cache_clear()
    with session_factory() as s:
        build_longtail_corpus(s)
        make_rating_queue(s, n=1)
    cli("augment", "prototypes", "--dataset", "toy")
    generated = cli("augment", "generate", "--dataset", "toy", "--generator", "llm-fewshot", "--model", PLACEHOLDER_MODEL)
    assert generated["planned"] == 2 and generated["created"] + generated["unparseable"] == 2 and generated["failed"] == 0
    with session_factory() as s:
        for candidate in s.scalars(select(Candidate).where(Candidate.generator == f"fewshot:{PLACEHOLDER_MODEL}")):
            assert {t["role"] for t in candidate.turns} == {"seeker", "recommender"}
    if generated["created"]:
        cli("augment", "filter", "--dataset", "toy")
        judged = cli("augment", "judge", "--dataset", "toy")
        assert judged["votes_cast"] == 2 * judged["candidates"] and judged["failed_calls"] == 0
        cli("augment", "route", "--dataset", "toy")
        with session_factory() as s:
            for vote in s.scalars(select(JudgeVote).where(JudgeVote.valid)):
                assert {vote.semantic, vote.fluency, vote.plausibility} <= {1, 2, 3, 4, 5}
            assert not s.scalars(select(Candidate).where(Candidate.status == "generated")).first()
    rated = cli("augment", "rate", "--judge", "judge-1")
    assert rated["responses"] == 1 and rated["rated"] + rated["invalid"] == 1 and rated["failed_calls"] == 0
    labelled = cli("augment", "multilabel", "--dataset", "toy", "--scorer", "judge-1", "--top-k", "3", "--limit", "1")
    assert labelled["turns"] == 1 and labelled["labelled"] + labelled["invalid"] == 1
    with session_factory() as s:
        assert all(1 <= r.score <= 5 for r in s.scalars(select(Rating).where(Rating.rater == "judge-1")))
        assert all(0 <= r.score <= 4 for r in s.scalars(select(RelevanceLabel)))
        assert s.scalar(select(func.count()).select_from(LLMCall)) >= 4  # every call is cached for resumption


def test_ctrl_c_and_resume_on_the_local_engine(local_endpoint: str, session_factory: sessionmaker[Session],
                                               database_url: str) -> None:
    with session_factory() as s:
        build_longtail_corpus(s)
    cli("augment", "prototypes", "--dataset", "toy")
    cli("augment", "generate", "--dataset", "toy", "--generator", "baseline-template")
    cli("augment", "filter", "--dataset", "toy")
    command = [sys.executable, "-c", "from lumicrs_cli import app; app()", "augment", "judge", "--dataset", "toy",
               "--judges", ",".join(f"judge-{i}" for i in range(1, 6)), "--json"]
    env = {**os.environ, "DATABASE_URL": database_url, "AUGMENT_CONCURRENCY": "2"}

    def votes() -> int:
        with session_factory() as s:
            return int(s.scalar(select(func.count()).select_from(JudgeVote)) or 0)

    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while votes() < 1 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    sent_at = time.monotonic()
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert time.monotonic() - sent_at < 10
    first = json.loads(out)
    assert first["interrupted"] and first["votes_cast"] == votes() < 10
    with session_factory() as s:
        cached_before = s.scalar(select(func.count()).select_from(LLMCall))
    resumed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["votes_cast"] == 10 - first["votes_cast"]
    with session_factory() as s:
        pairs = s.execute(select(JudgeVote.candidate_id, JudgeVote.judge)).all()
        cached_after = s.scalar(select(func.count()).select_from(LLMCall))
    assert len(pairs) == len(set(pairs)) == 10
    assert cached_after == 10 and cached_before == first["votes_cast"]  # a finished call is never sent again
