"""LLM throughput through our pipeline vs direct calls to the same server at the same concurrency.

    python benchmarks/llm_throughput.py [--base-url URL --model NAME] [--calls 24] [--concurrency 2] [--rounds 2]

Without --base-url it starts the local engine (llama.cpp, the packaged Gemma 3 270M, 1 thread). Each call is a
judge prompt about a different synthetic dialogue, asking for the judge schema with the response_format that the
endpoint negotiated, temperature 0, at most --max-tokens tokens.
- direct: the openai client (sync) on a thread pool of --concurrency workers, nothing else.
- pipeline: what `lumicrs augment judge` does per call: our client (runtime loop, deadline, negotiation), the DB
  call cache (a fresh SQLite file, so no hits), the CallBatch thread pool with progress, and reply validation.
Rounds alternate direct/pipeline with fresh prompts each time (the server's prefix cache helps both alike).
Reports calls/s and completion tokens/s per arm and the pipeline/direct ratio (target >= 0.9).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr  # noqa: E402

from augment.cache import CachedChat  # noqa: E402
from augment.concurrency import run_calls  # noqa: E402
from augment.llm import OpenAIChat, fold_system_prompt, runtime  # noqa: E402
from augment.local_engine import DEFAULT_MODEL_NAME, LocalEngine  # noqa: E402
from augment.prompts import render_messages  # noqa: E402
from augment.structured import JudgeReply, negotiate, parse_reply, response_format  # noqa: E402
from db.engine import make_engine, make_session_factory  # noqa: E402
from db.migrate import upgrade_database  # noqa: E402

TASTES = ["quiet dramas", "big action", "clever comedies", "slow mysteries", "weird indies", "old westerns"]


def prompts(round_index: int, arm: int, n: int, fold: bool) -> list[list[dict[str, str]]]:
    """Fresh prompts of the same shape for each round and arm (the number differs, not the length)."""
    out = []
    for i in range(n):
        turns = [{"role": "seeker", "text": f"I like {TASTES[i % 6]} (case {round_index}{arm}{i:03d})."},
                 {"role": "recommender", "text": f"Then try Movie Number {i} (19{50 + i % 50}), it fits that mood."},
                 {"role": "seeker", "text": "Thanks, I will watch it."}]
        messages = render_messages("judge", target_title=f"Movie Number {i}", turns=turns)
        out.append(fold_system_prompt(messages) if fold else messages)  # both arms send what the server reads
    return out


def direct(url: str, model: str, key: str, batch: list[list[dict[str, str]]], params: dict[str, Any],
           concurrency: int) -> tuple[float, int]:
    from openai import OpenAI

    client = OpenAI(base_url=url, api_key=key, max_retries=2)

    def call(messages: list[dict[str, str]]) -> int:
        reply = client.chat.completions.create(model=model, messages=messages, **params)  # type: ignore[arg-type]
        return reply.usage.completion_tokens if reply.usage else 0

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        tokens = sum(pool.map(call, batch))
    return time.perf_counter() - start, tokens


def pipeline(chat: CachedChat, batch: list[list[dict[str, str]]], max_tokens: int, concurrency: int) -> tuple[float, int]:
    start = time.perf_counter()
    tokens = valid = 0
    calls = run_calls(lambda m: chat.complete(m, schema=JudgeReply, temperature=0, max_tokens=max_tokens), batch,
                      concurrency=concurrency, desc="pipeline", progress=False)
    for _, reply in calls:
        if reply is not None:
            tokens += reply.completion_tokens or 0
            valid += parse_reply(reply.text, JudgeReply) is not None
    return time.perf_counter() - start, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url")
    parser.add_argument("--model", default=DEFAULT_MODEL_NAME)
    parser.add_argument("--api-key", default="not-needed")
    parser.add_argument("--calls", type=int, default=24)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    engine: Any = nullcontext() if args.base_url else LocalEngine()
    with engine, tempfile.TemporaryDirectory() as tmp:
        url = args.base_url or engine.base_url
        upgrade_database(f"sqlite:///{tmp}/bench.db")
        db = make_engine(f"sqlite:///{tmp}/bench.db")
        ours = OpenAIChat(args.model, url, SecretStr(args.api_key), max_retries=2)
        profile = runtime().submit(negotiate(ours, need_schema=True)).result()
        params: dict[str, Any] = {"temperature": 0, "max_tokens": args.max_tokens}
        if profile.mode != "prompt":
            params["response_format"] = response_format(profile.mode, JudgeReply)
        chat = CachedChat(ours, make_session_factory(db))
        rows: dict[str, list[tuple[float, int]]] = {"direct": [], "pipeline": []}
        for r in range(args.rounds):
            fold = profile.drops_system
            rows["direct"].append(direct(url, args.model, args.api_key, prompts(r, 1, args.calls, fold), params,
                                         args.concurrency))
            rows["pipeline"].append(pipeline(chat, prompts(r, 2, args.calls, fold), args.max_tokens, args.concurrency))
            for arm in rows:
                seconds, tokens = rows[arm][-1]
                print(f"round {r + 1} {arm:8s}: {args.calls} calls in {seconds:6.1f} s = {args.calls / seconds:5.2f} calls/s, "
                      f"{tokens / seconds:6.1f} completion tokens/s", flush=True)
    rates = {arm: [args.calls / s for s, _ in v] for arm, v in rows.items()}
    tokens = {arm: [t / s for s, t in v] for arm, v in rows.items()}
    print(f"endpoint {url} model {args.model} structured output {profile.mode}; {args.rounds} rounds x {args.calls} calls, "
          f"concurrency {args.concurrency}")
    for arm in rows:
        print(f"{arm:8s}: {statistics.mean(rates[arm]):.2f} calls/s, {statistics.mean(tokens[arm]):.1f} tokens/s "
              "(mean of rounds)")
    print(f"pipeline / direct: calls/s {statistics.mean(rates['pipeline']) / statistics.mean(rates['direct']):.2f}, "
          f"tokens/s {statistics.mean(tokens['pipeline']) / statistics.mean(tokens['direct']):.2f} (target >= 0.9)")


if __name__ == "__main__":
    from interrupt import run as run_script

    run_script(main)
