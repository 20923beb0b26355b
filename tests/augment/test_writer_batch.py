"""The writer many at once (augment/writer_batch.py): the same choice, seeds and cache keys as one at a time, stored
by `augment generate` as each dialogue finishes, resumed without a duplicate, stopped by Ctrl+C between dialogues."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from augment.cache import CachedChat
from augment.generators import GenerationContext
from augment.llm import Completion
from augment.writer import WriterConfig, WriterGenerator, writer_seed
from augment.writer_batch import write_many, writer_vocabulary
from db.models import Candidate, LLMCall
from lm.llama_batch import Request
from lm.llama_engine import LlamaOutput
from tests.augment.test_writer_engines import ALIEN, BROKEN, HEAT, MISSES, NAMES, PROTOTYPE
from tests.factories import race


class ScriptedBatch:
    """Stands in for a batch engine (an external model): the reply to (prompt, seed) comes from `reply`; it keeps
    the engine's contract (attempts until accepted, on_done per request, nothing begins after a stop)."""

    def __init__(self, reply: Callable[[str, int], str]) -> None:
        self.reply, self.asked = reply, []  # asked: (prompt text, seed) per try made
        self.texts: dict[tuple[int, ...], str] = {}

    def tokenize(self, text: str) -> list[int]:
        ids = [ord(c) for c in text]
        self.texts[tuple(ids)] = text
        return ids

    def generate(self, requests: Sequence[Request], *, max_tokens: int, temperature: float = 0.0,
                 stop: Sequence[str] = (), accept: Any = None, on_done: Any = None,
                 stop_requested: Any = None) -> list[list[LlamaOutput]]:
        results: list[list[LlamaOutput]] = [[] for _ in requests]
        for i, request in enumerate(requests):
            if stop_requested is not None and stop_requested():
                break
            for k, seed in enumerate(request.seeds):
                prompt = self.texts[request.prompt]
                self.asked.append((prompt, seed))
                output = LlamaOutput(self.reply(prompt, seed), len(request.prompt), 12, 1.0)
                results[i].append(output)
                if k + 1 == len(request.seeds) or accept is None or accept(i, output):
                    break
            if on_done is not None:
                on_done(i, results[i])
        return results


def contexts() -> list[tuple[GenerationContext, int]]:
    return [(GenerationContext(ALIEN, "tail", PROTOTYPE, ()), 0), (GenerationContext(ALIEN, "tail", PROTOTYPE, ()), 1),
            (GenerationContext(HEAT, "body", PROTOTYPE, ()), 0)]


def script(order: dict[str, list[str]]) -> Callable[[str, int], str]:
    """Replies per target title, in try order (the n-th try of a job gets the n-th reply)."""
    def reply(prompt: str, seed: int) -> str:
        title = prompt.rsplit('recommends "', 1)[1].split(" (", 1)[0]
        for sample in range(2):
            for attempt in range(3):
                if writer_seed(ALIEN.id if title == "Alien" else HEAT.id, sample, attempt) == seed:
                    text = order[title][attempt]
                    return text.replace("Alien", title)
        raise AssertionError(f"unexpected seed {seed}")

    return reply


class OneAtATime:
    """The same scripted replies, one try at a time (WriterGenerator's own path)."""

    name = "local-writer:test"

    def __init__(self, replies: dict[str, list[str]]) -> None:
        self.reply = script(replies)

    def complete_text(self, prompt: str, **params: Any) -> Completion:
        return Completion(self.reply(prompt, params["seed"]), 10, 12, 1.0)


def test_write_many_keeps_the_one_at_a_time_choice_and_seeds() -> None:
    replies = {"Alien": [MISSES, BROKEN, NAMES], "Heat": [NAMES, MISSES, MISSES]}
    engine = ScriptedBatch(script(replies))
    generator = WriterGenerator(OneAtATime(replies), WriterConfig(name="w"), temperature=0.7, tries=3)
    written = write_many(generator, contexts(), engine)
    assert [w.samples for w in written if w] == [3, 3, 1]  # Alien named on its third try, Heat on its first
    for (ctx, index), w in zip(contexts(), written, strict=True):
        assert w is not None and (w.turns, w.samples) == generator.generate_counting(ctx, index)
    seeds = [seed for _, seed in engine.asked]
    assert seeds == [writer_seed(7, 0, a) for a in range(3)] + [writer_seed(7, 1, a) for a in range(3)] + \
        [writer_seed(8, 0, 0)]


def test_write_many_keeps_the_one_at_a_time_choice_with_the_reviewer_checks() -> None:
    """With AUGMENT_WRITER_CHECKS the batch stops a job's tries at the same try as one at a time: a try that names the
    target but repeats a turn is not accepted."""
    repeats = "Seeker: something scary?\nRecommender: Alien is great\nSeeker: something scary?"
    heist = "Seeker: any heist films?\nRecommender: Alien is great"  # for Heat (crime): the request agrees
    replies = {"Alien": [repeats, NAMES, MISSES], "Heat": [heist, MISSES, MISSES]}
    engine = ScriptedBatch(script(replies))
    generator = WriterGenerator(OneAtATime(replies), WriterConfig(name="w"), temperature=0.7, tries=3, checks=True)
    written = write_many(generator, contexts(), engine)
    assert [w.samples for w in written if w] == [2, 2, 1]
    for (ctx, index), w in zip(contexts(), written, strict=True):
        assert w is not None and (w.turns, w.samples) == generator.generate_counting(ctx, index)
    unchecked = WriterGenerator(OneAtATime(replies), WriterConfig(name="w"), temperature=0.7, tries=3)
    assert [w.samples for w in write_many(unchecked, contexts(), ScriptedBatch(script(replies))) if w] == [1, 1, 1]


def test_batched_tries_land_in_the_cache_under_the_one_at_a_time_keys_and_resume(
        session_factory: sessionmaker[Session], database_url: str) -> None:
    replies = {"Alien": [MISSES, NAMES, MISSES], "Heat": [BROKEN, BROKEN, BROKEN]}
    engine = ScriptedBatch(script(replies))

    class Chat:
        name = "local-writer:test"

    cached = CachedChat(Chat(), session_factory)  # type: ignore[arg-type]
    generator = WriterGenerator(cached, WriterConfig(name="w"), temperature=0.7, tries=3)
    stops = iter([False, True])
    first = write_many(generator, contexts(), engine, stop_requested=lambda: next(stops, True))
    assert first[0] is not None and first[1] is None and first[2] is None  # Ctrl+C after the first dialogue
    assert len(engine.asked) == 2
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(LLMCall)) == 2
    ctx, index = contexts()[0]
    key = cached.text_key(generator.prompt(ctx), {**generator.params, "seed": writer_seed(7, index, 1)})
    assert cached.lookup(key) is not None  # the key complete_text would use: one cache for both paths
    second = write_many(generator, contexts(), engine)
    assert len(engine.asked) == 2 + 2 + 3  # job 0 read from the cache; job 1: two tries; Heat: three, none parse
    assert second[0] == first[0] and second[2] is not None and second[2].turns == [] and second[2].samples == 3
    third = write_many(generator, contexts(), engine)
    assert len(engine.asked) == 7 and third == second  # everything from the cache now


def test_a_refused_try_is_in_the_cache_before_the_next_try_so_a_killed_run_keeps_it(
        session_factory: sessionmaker[Session], database_url: str) -> None:
    replies = {"Alien": [MISSES, NAMES, MISSES], "Heat": [NAMES, NAMES, NAMES]}
    reply = script(replies)

    def dies_at_the_second_try(prompt: str, seed: int) -> str:
        if seed == writer_seed(7, 0, 1):
            raise KeyboardInterrupt  # the process killed while the job's second try is made
        return reply(prompt, seed)

    class Chat:
        name = "local-writer:test"

    generator = WriterGenerator(CachedChat(Chat(), session_factory), WriterConfig(name="w"),  # type: ignore[arg-type]
                                temperature=0.7, tries=3)
    with pytest.raises(KeyboardInterrupt):
        write_many(generator, contexts()[:1], ScriptedBatch(dies_at_the_second_try))
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(LLMCall)) == 1  # the refused first try, kept
    engine = ScriptedBatch(reply)
    written = write_many(generator, contexts()[:1], engine)
    assert [seed for _, seed in engine.asked] == [writer_seed(7, 0, 1)]  # the rerun goes on from the second try
    assert written[0] is not None and written[0].samples == 2 and written[0].turns


def test_augment_generate_writes_in_batches_stores_each_dialogue_and_resumes(
        session_factory: sessionmaker[Session], database_url: str) -> None:
    from augment.generate import run_generation
    from augment.prototypes import select_prototypes
    from augment.similarity import SimilarityWeights
    from tests.augment.test_writer import ScriptedWriter, build_writer_corpus

    with session_factory() as session:
        build_writer_corpus(session)
        select_prototypes(session, "toy", SimilarityWeights(), progress=False)
        session.commit()
    scripted = ScriptedWriter()
    engine = ScriptedBatch(lambda prompt, seed: scripted.complete_text(prompt, seed=seed).text)
    scripted.batched = lambda streams: engine  # type: ignore[attr-defined]
    generator = WriterGenerator(CachedChat(scripted, session_factory), WriterConfig(name="w"), temperature=0.7,
                                batch=8)
    first = run_generation(session_factory, "toy", generator, tail_range=(2, 2), progress=False)
    assert (first.planned, first.created, first.unparseable, first.failed) == (8, 8, 0, 0)
    with session_factory() as session:
        candidates = list(session.scalars(select(Candidate)))
        assert len({(c.prototype_id, c.sample_index) for c in candidates}) == 8
        assert all(c.turns[1]["movie_ids"] == [c.movie_id] for c in candidates)  # the target tagged where named
    again = run_generation(session_factory, "toy", generator, tail_range=(2, 2), progress=False)
    assert (again.planned, again.created) == (0, 0) and len(engine.asked) == 8


def test_the_writer_vocabulary_holds_the_turns_tokens_and_the_speaker_labels() -> None:
    def tokenize(text: str) -> list[int]:
        return [0] + [hash(word) % 1000 for word in text.replace("\n", " \n ").split(" ") if word]
    vocabulary = writer_vocabulary(["Try   Alien tonight"], tokenize)
    assert set(tokenize("Seeker: Try Alien tonight\n")) <= vocabulary
    assert set(tokenize("Recommender: hi\n\n")) <= vocabulary


def test_two_writers_storing_the_same_try_at_once_leave_one_cached_call_and_both_go_on(
        session_factory: sessionmaker[Session], database_url: str) -> None:
    """Two `augment generate` processes on one database write the same job: each stores every try as it is made, so
    both can store the same cache key at the same moment. Real threads on each backend: neither fails, one row."""
    class Chat:
        name = "local-writer:test"

    caches = [CachedChat(Chat(), session_factory) for _ in range(2)]  # type: ignore[arg-type]
    texts = ("first", "second")
    outcomes = race(2, lambda i: caches[i].store_text("the prompt", {"seed": 7, "temperature": 0.7},
                                                      Completion(texts[i], 3, 5, 1.0)))
    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(LLMCall)) == 1
    kept = CachedChat(Chat(), session_factory).lookup(  # type: ignore[arg-type]
        CachedChat(Chat(), session_factory).text_key("the prompt", {"seed": 7, "temperature": 0.7}))  # type: ignore[arg-type]
    assert kept is not None and kept.text in {"first", "second"}
