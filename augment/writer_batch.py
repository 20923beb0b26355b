"""The writer's dialogues many at once: what WriterGenerator.generate_counting gives one at a time (the same prompt,
seeds, tries and choice), decoded together by lm/llama_batch.py, through the same LLM call cache.

Each job (prototype context, sample index) is a request with one seed per try (augment.writer.writer_seed); a try is
accepted by WriterGenerator.accepted (its reply parses into a dialogue whose recommender names the target, and with
the generator's checks on, one that passes the reviewer's first checks); the kept dialogue is chosen by
WriterGenerator.choose (the first accepted try, else the first naming the target, else the first that parsed).
Each try goes into the cache as it is made (a refused one too, before the job's next try), and tries already in the
cache are read, not made again, so a killed run resumes where it stopped, losing only the tries in flight, and a
cached dialogue is the same whichever path made it.

A dialogue written in a batch can differ from the one-at-a-time engine's for the same seed: the batch's matrix
products sum in another order, and a near-tie between two tokens can go the other way (docs/writer.md measures how
often).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from augment.cache import CachedChat
from augment.generate import GenerateSummary, Job
from augment.generators import GenerationContext
from augment.llm import Completion
from augment.writer import WriterGenerator, writer_seed
from db.types import Turn
from lm.llama_batch import Request
from lm.llama_engine import LlamaOutput

STREAMS = 16
MIN_VOCABULARY = 5000  # fewer distinct tokens in the train dialogues (a toy corpus): write over the full vocabulary


@dataclass(frozen=True)
class Written:
    turns: list[Turn]  # empty: no try gave a dialogue
    samples: int  # tries it took


class BatchEngine(Protocol):
    """lm.llama_batch.BatchedLlama or lm.torch_batch.TorchBatchDecoder."""

    def tokenize(self, text: str) -> list[int]: ...

    def generate(self, requests: Sequence[Request], *, max_tokens: int, temperature: float = 0.0,
                 stop: Sequence[str] = (), accept: Callable[[int, LlamaOutput], bool] | None = None,
                 on_done: Callable[[int, list[LlamaOutput]], None] | None = None,
                 stop_requested: Callable[[], bool] | None = None) -> list[list[LlamaOutput]]: ...


def batched_engine(generator: WriterGenerator, streams: int = STREAMS) -> BatchEngine | None:
    """The batched engine of the generator's writer, `streams` dialogues at a time (None: its chat has none)."""
    chat = generator.chat.model if isinstance(generator.chat, CachedChat) else generator.chat
    make = getattr(chat, "batched", None)
    return make(streams) if make is not None else None


def writer_vocabulary(turn_texts: Iterable[str], tokenize: Callable[[str], list[int]]) -> set[int]:
    """The tokens a writer may write: those of the dialogues it learned from (their turns, with the speaker labels
    its prompt uses); each prompt adds its own (title, plot, prototype) on the engine."""
    vocabulary: set[int] = set(tokenize("Seeker: hi\nRecommender: hi\n\n"))
    for text in turn_texts:  # as a turn of the written dialogue reads: "Seeker: <text>" on its own line
        vocabulary.update(tokenize(f"Seeker: {' '.join(text.split())}\n"))
    return vocabulary


def restrict_vocabulary(engine: BatchEngine, turn_texts: Callable[[], Iterable[str]]) -> None:
    """Where the engine can restrict its output layer (transformers), to the writer vocabulary of these train turns;
    a toy corpus (fewer than MIN_VOCABULARY tokens) keeps the full vocabulary. Where it cannot (llama.cpp), the turns
    are not even read."""
    restrict = getattr(engine, "restrict_to", None)
    if restrict is not None:
        vocabulary = writer_vocabulary(turn_texts(), engine.tokenize)
        restrict(vocabulary if len(vocabulary) >= MIN_VOCABULARY else None)


def _choose(generator: WriterGenerator, ctx: GenerationContext, replies: Sequence[Completion]) -> Written:
    """WriterGenerator.choose over replies already made."""
    turns, used, _ = generator.choose(ctx, (_parsed(generator, reply) for reply in replies))
    return Written(turns, used)


def _parsed(generator: WriterGenerator, reply: Completion) -> list[Turn] | ValueError:
    try:
        return generator.dialogue_from(reply.text, reply.completion_tokens)
    except ValueError as exc:
        return exc


def write_many(generator: WriterGenerator, jobs: Sequence[tuple[GenerationContext, int]], engine: BatchEngine, *,
               on_done: Callable[[int, Written], None] | None = None,
               stop_requested: Callable[[], bool] | None = None) -> list[Written | None]:
    """One dialogue per (context, sample index) job; None for a job not begun because stop_requested said so.
    on_done(job index, written) as each finishes."""
    cache = generator.chat if isinstance(generator.chat, CachedChat) else None
    params: dict[str, Any] = dict(generator.params)
    results: list[Written | None] = [None] * len(jobs)
    earlier: dict[int, list[Completion]] = {}
    requests: list[Request] = []
    owners: list[int] = []
    prompts = [generator.prompt(ctx) for ctx, _ in jobs]
    for j, (ctx, index) in enumerate(jobs):
        prompt = prompts[j]
        seeds = [writer_seed(ctx.target.id, index, attempt) for attempt in range(generator.tries)]
        replies: list[Completion] = []
        for seed in seeds:  # the tries a previous run made (the cache), in order, up to an accepted one
            hit = cache.lookup(cache.text_key(prompt, {**params, "seed": seed})) if cache is not None else None
            if hit is None:
                break
            replies.append(hit)
            if _accepted(generator, ctx, hit):
                break
        if replies and (len(replies) == len(seeds) or _accepted(generator, ctx, replies[-1])):
            results[j] = _choose(generator, ctx, replies)
            if on_done is not None:
                on_done(j, results[j])  # type: ignore[arg-type]
            continue
        earlier[j] = replies
        requests.append(Request(tuple(engine.tokenize(prompt)), tuple(seeds[len(replies):])))
        owners.append(j)

    made: dict[int, list[Completion]] = {j: [] for j in owners}

    def keep(j: int, output: Any) -> Completion:
        """A try as it is made, into the cache at once: a run stopped before the job's last try keeps it."""
        ctx, index = jobs[j]
        reply = Completion(output.text, output.prompt_tokens, output.completion_tokens, output.latency_ms)
        if cache is not None:
            seed = writer_seed(ctx.target.id, index, len(earlier[j]) + len(made[j]))
            cache.store_text(prompts[j], {**params, "seed": seed}, reply)
        made[j].append(reply)
        return reply

    def accept(r: int, output: Any) -> bool:
        j = owners[r]
        return _accepted(generator, jobs[j][0], keep(j, output))

    def finished(r: int, attempts: Sequence[Any]) -> None:
        j = owners[r]
        for output in attempts[len(made[j]):]:  # the tries accept was not asked about (a job's last)
            keep(j, output)
        ctx, _ = jobs[j]
        results[j] = _choose(generator, ctx, earlier[j] + made[j])
        if on_done is not None:
            on_done(j, results[j])  # type: ignore[arg-type]

    engine.generate(requests, max_tokens=int(params["max_tokens"]), temperature=float(params["temperature"]),
                    stop=list(params.get("stop") or ()), accept=accept, on_done=finished,
                    stop_requested=stop_requested)
    return results


def _accepted(generator: WriterGenerator, ctx: GenerationContext, reply: Completion) -> bool:
    turns = _parsed(generator, reply)
    return not isinstance(turns, ValueError) and generator.accepted(ctx, turns)


def write_jobs(session_factory: sessionmaker[Session], dataset: str, generator: WriterGenerator, jobs: Sequence[Job],
               *, params: dict[str, object] | None = None, progress: bool = True) -> GenerateSummary:
    """`augment generate` for the writer, `generator.batch` dialogues at a time: each dialogue stored as it finishes
    (resumable), a progress bar, and the first Ctrl+C lets the dialogues in flight finish, then stops."""
    import sys

    from tqdm import tqdm

    from augment.generate import store_candidate
    from db.cli_support import deferred_interrupt
    from db.queries.corpus import list_dialogues

    if not jobs:
        return GenerateSummary(generator.name, 0, 0, 0, 0)
    engine = batched_engine(generator, generator.batch)
    if engine is None:
        raise ValueError(f"{generator.name}: this writer engine cannot write in batches (AUGMENT_WRITER_BATCH=1)")

    def train_turns() -> list[str]:
        with session_factory() as session:
            return [t.text for d in list_dialogues(session, dataset, ["train"]) for t in d.turns]

    restrict_vocabulary(engine, train_turns)
    counts = {"created": 0, "unparseable": 0}
    bar = tqdm(total=len(jobs), desc=f"generate ({generator.name}, {generator.batch} at once)", disable=not progress,
               file=sys.stderr)

    def done(j: int, written: Written) -> None:
        bar.update()
        if not written.turns:
            counts["unparseable"] += 1
            return
        counts["created"] += store_candidate(session_factory, generator, jobs[j], written.turns, params)

    with deferred_interrupt() as interrupted:
        try:
            results = write_many(generator, [(job.ctx, job.sample_index) for job in jobs], engine, on_done=done,
                                 stop_requested=interrupted)
        finally:
            bar.close()
        stopped = interrupted()
    if stopped:
        print(f"generate: stopped after {sum(r is not None for r in results)} of {len(jobs)} dialogues (the rest "
              "are written on the next run)", file=sys.stderr)
    return GenerateSummary(generator.name, len(jobs), counts["created"], counts["unparseable"], 0, stopped)
