"""`lumicrs llm serve|demo`: the optional local engine, and a first run on it that ends on the review queue."""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from augment.settings import get_settings
from db.cli_support import cli_session_factory, console, emit, make_table, user_errors
from db.secrets import mask_url

llm_app = typer.Typer(help="The optional local LLM engine (llama.cpp) and a first run on it.", no_args_is_help=True)
PLACEHOLDER_NOTE = ("the local engine serves a tiny BASE model (Gemma 3 270M): its dialogues and votes are placeholders "
                    "for trying the workflow, not data; point OPENAI_BASE_URL at a real endpoint for real use")
WRITER_NOTE = ("the dialogues come from the shipped writer (Gemma 3 270M fine-tuned on ReDial's train split, in this "
               "process); the five judges are the local trained panel (small judges on MiniLM embeddings, "
               "docs/judges.md), not the paper's LLM judges; point OPENAI_BASE_URL at a real endpoint for those")


@llm_app.command("serve")
@user_errors
def serve(model: Annotated[Path | None, typer.Option(help="A GGUF file (default: the packaged Gemma 3 270M).")] = None,
          port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8011,
          threads: Annotated[int, typer.Option(help="CPU threads (1 is fastest on a busy 2-core machine).")] = 1,
          context: Annotated[int, typer.Option(help="Context window in tokens.")] = 4096) -> None:
    """Serve a GGUF model OpenAI-compatibly on 127.0.0.1 until Ctrl+C."""
    from augment.local_engine import DEFAULT_MODEL_NAME, LocalEngine, check_port_free

    check_port_free(port)  # a port out of range or taken: one line, before anything starts
    engine = LocalEngine(model, port, threads, context).start()
    console.print(f"serving {model or DEFAULT_MODEL_NAME} at {engine.base_url} (Ctrl+C stops it)\n"
                  f"  export OPENAI_BASE_URL={engine.base_url} AUGMENT_MODEL={DEFAULT_MODEL_NAME}\n"
                  f"  note: {PLACEHOLDER_NOTE if model is None else 'use --generator llm-fewshot for a base model'}")
    try:
        assert engine.process is not None
        engine.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        engine.stop()


@dataclass(frozen=True)
class DemoSummary:
    """What became of every generated dialogue: generated = near_duplicates + accepted + waiting_for_review +
    discarded + not_yet_judged (a judge call that failed or hit its deadline leaves its dialogue unrouted)."""

    endpoint: str
    movies: int
    generated: int
    near_duplicates: int
    judge_votes: int
    judge_calls_failed: int
    accepted: int
    waiting_for_review: int
    discarded: int
    not_yet_judged: int


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@llm_app.command("demo")
@user_errors
def demo(dataset: Annotated[str, typer.Option(help="redial or inspired")] = "inspired",
         movies: Annotated[int, typer.Option(help="Body/tail movies in the slice.", envvar="LUMICRS_DEMO_MOVIES")] = 5,
         samples: Annotated[int, typer.Option(help="Dialogues per movie (the paper's body count: 4).")] = 4,
         generator: Annotated[str | None, typer.Option(
             help="local-writer (the shipped fine-tuned writer; the default without an endpoint), fewshot (the base "
                  "model's few-shot completion) or llm (the endpoint's chat model; the default with one).")] = None,
         as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """A small slice through prototypes, generation, filter, five judges and routing: the Review page then holds
    real model output. Uses OPENAI_BASE_URL when set, else starts the local engine for the run."""
    from augment.local_engine import DEFAULT_MODEL_NAME, LocalEngine

    settings = get_settings()
    chosen = generator or ("llm" if settings.base_url else "local-writer")
    # the local engine serves the base model's few-shot writer only: the shipped writer runs in this process and
    # the judges are the local panel
    engine: Any = nullcontext() if settings.base_url or chosen == "local-writer" else LocalEngine()
    with engine:
        url = settings.base_url or getattr(engine, "base_url", "in-process")
        if not settings.base_url:
            console.print(f"note: {WRITER_NOTE if chosen == 'local-writer' else PLACEHOLDER_NOTE}")
        summary = _run_slice(dataset, url, movies, samples, local=not settings.base_url,
                             model=settings.model if settings.base_url else DEFAULT_MODEL_NAME, progress=not as_json,
                             generator=chosen)
    rows = [[key, value] for key, value in asdict(summary).items()]
    emit(asdict(summary), as_json, make_table(f"LLM slice ({dataset})", ["field", "value"], rows))
    if not as_json:
        waiting = plural(summary.waiting_for_review, "dialogue")
        console.print(f"{waiting} {'waits' if summary.waiting_for_review == 1 else 'wait'} for a reviewer's verdict"
                      + (f"; {plural(summary.not_yet_judged, 'dialogue')} not yet judged (`lumicrs augment judge` "
                         "then `augment route` finish them)" if summary.not_yet_judged else ""))


def _run_slice(dataset: str, url: str, movies: int, samples: int, *, local: bool, model: str,
               progress: bool, generator: str) -> DemoSummary:
    from sqlalchemy import select

    from augment.errors import AllCallsFailed
    from augment.filtering import filter_in_short_writes
    from augment.generate import run_generation
    from augment.generators import FewShotGenerator, LLMGenerator
    from augment.judging import judge_candidates, panel_judge_candidates
    from augment.panel import JudgePanel
    from augment.prototypes import select_prototypes_in_short_writes
    from augment.routing import route_candidates
    from augment.service import chat_model, local_writer, weights_from
    from augment.structured import JudgeReply
    from db.engine import write_transaction
    from db.models import Dataset, Movie, Prototype

    settings = get_settings()
    factory = cli_session_factory()
    with factory() as session:
        missing = not session.scalar(select(Prototype.id).join(Movie).join(Dataset).where(Dataset.name == dataset).limit(1))
    if missing:
        select_prototypes_in_short_writes(factory, dataset, weights_from(settings), support_k=settings.support_k,
                                          progress=progress)
    if generator not in ("local-writer", "fewshot", "llm"):
        raise ValueError(f"--generator must be local-writer, fewshot or llm, got {generator!r}")
    if generator == "local-writer":
        writer = local_writer(settings, factory)
    else:
        chat = chat_model(settings, model, factory, base_url=url)
        writer = FewShotGenerator(chat, settings.temperature) if generator == "fewshot" else \
            LLMGenerator(chat, settings.temperature, settings.max_tokens)
    generated = run_generation(factory, dataset, writer, tail_range=(samples, samples), body_range=(samples, samples),
                               concurrency=settings.concurrency, limit=movies, params={"temperature": settings.temperature},
                               progress=progress)
    if generated.failed and not generated.created and not generated.unparseable:
        raise AllCallsFailed(f"generation ({writer.name}): all {generated.failed} calls failed (reasons above); "
                             "nothing to judge")
    kept = filter_in_short_writes(factory, dataset, settings.duplicate_threshold, progress=progress)
    if local:  # no endpoint: the local trained panel, in this process
        panel = JudgePanel.load()
        votes = panel_judge_candidates(factory, dataset, panel, progress=progress)
        n_judges = len(panel.names)
    else:
        judges = [chat_model(settings, name, factory, base_url=url) for name in settings.judges]
        votes = judge_candidates(factory, dataset, list(judges), temperature=settings.judge_temperature,
                                 min_score=settings.judge_min_score, concurrency=settings.concurrency,
                                 progress=progress, schema=JudgeReply)
        n_judges = len(judges)
    if votes.failed_calls and not votes.votes_cast:
        raise AllCallsFailed(f"judges: all {votes.failed_calls} calls failed (reasons above); nothing was routed, "
                             "no dialogue waits for review")
    with write_transaction(factory) as session:
        routed = route_candidates(session, dataset, n_judges, accept_min=settings.accept_min_votes,
                                  review_min=settings.review_min_votes, overlap=settings.review_overlap).routed
    accepted, waiting, discarded = (routed.get(k, 0) for k in ("auto_accepted", "needs_review", "discarded"))
    return DemoSummary(mask_url(url), movies, generated.created, generated.created - kept.kept, votes.votes_cast,
                       votes.failed_calls, accepted, waiting, discarded,
                       max(kept.kept - accepted - waiting - discarded, 0))


def register(app: typer.Typer) -> None:
    app.add_typer(llm_app, name="llm")

