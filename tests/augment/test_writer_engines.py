"""The writer's sampling rule (tries until the recommender names the target, each try its own seed), the engine
choice (settings -> llama.cpp or transformers), and the shipped writer on llama.cpp (slow)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from augment.generators import GenerationContext
from augment.llm import Completion
from augment.settings import get_settings
from augment.writer import WriterConfig, WriterGenerator, names_target, writer_seed
from db.types import MovieInfo, Turn

ALIEN = MovieInfo(id=7, external_id="7", title="Alien (1979)", genres=("horror",), plot="In space.")
HEAT = MovieInfo(id=8, external_id="8", title="Heat (1995)", genres=("crime",), plot="A heist.")
PROTOTYPE = (Turn(role="seeker", text="any heist films?"), Turn(role="recommender", text="Try Ronin (1998)"))


class Replies:
    """Stands in for the engine: answers each call with the next scripted text, recording the seeds asked for."""

    name = "local-writer:test"

    def __init__(self, texts: list[str]) -> None:
        self.texts, self.seeds = list(texts), []

    def complete_text(self, prompt: str, **params: Any) -> Completion:
        self.seeds.append(params["seed"])
        assert params["stop"] == ["\n\n"]
        return Completion(self.texts.pop(0), 10, 10, 1.0)


NAMES = "Seeker: something scary?\nRecommender: Alien is great"
MISSES = "Seeker: something scary?\nRecommender: try a classic"
BROKEN = "no roles here at all"


def written(texts: list[str], tries: int = 3, temperature: float = 0.7) -> tuple[list[Turn], int, Replies]:
    chat = Replies(texts)
    generator = WriterGenerator(chat, WriterConfig(name="w"), temperature=temperature, tries=tries)
    turns, used = generator.generate_counting(GenerationContext(ALIEN, "tail", PROTOTYPE, ()), 4)
    return turns, used, chat


def test_it_samples_until_the_recommender_names_the_target() -> None:
    turns, used, chat = written([MISSES, BROKEN, NAMES, MISSES])
    assert names_target(turns, ALIEN.title) and used == 3
    assert chat.seeds == [writer_seed(7, 4, 0), writer_seed(7, 4, 1), writer_seed(7, 4, 2)]
    assert len(set(chat.seeds)) == 3


def test_when_no_try_names_it_the_first_parseable_dialogue_is_kept() -> None:
    turns, used, _ = written([BROKEN, MISSES, MISSES.replace("classic", "new one")])
    assert used == 3 and turns[1].text == "try a classic"
    with pytest.raises(ValueError):
        written([BROKEN, BROKEN, BROKEN])


def test_greedy_decoding_and_one_try_ask_once() -> None:
    assert written([MISSES], temperature=0.0)[1:2] == (1,)
    assert written([MISSES], tries=1)[1:2] == (1,)


def test_seeds_differ_between_movies_and_samples() -> None:
    seeds = {writer_seed(movie, sample, attempt) for movie in (7, 8) for sample in range(5) for attempt in range(3)}
    assert len(seeds) == 30


@pytest.fixture
def writer_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_settings_choose_the_engine_and_the_tries(writer_settings: pytest.MonkeyPatch,
                                                  session_factory: sessionmaker[Session]) -> None:
    from augment.service import local_writer
    from augment.writer_engines import GGUFWriterChat, LocalWriterChat
    from lm.llama_engine import llama_cpp_installed

    writer_settings.setenv("AUGMENT_WRITER_ENGINE", "transformers")
    writer_settings.setenv("AUGMENT_WRITER_TRIES", "5")
    writer_settings.setenv("AUGMENT_WRITER_CHECKS", "0")
    generator = local_writer(get_settings(), session_factory)
    assert isinstance(generator.chat.model, LocalWriterChat) and generator.tries == 5 and not generator.checks
    assert generator.name.startswith("local-writer-hf:")
    get_settings.cache_clear()
    writer_settings.setenv("AUGMENT_WRITER_ENGINE", "llama.cpp")
    writer_settings.setenv("AUGMENT_WRITER_THREADS", "1")
    if llama_cpp_installed():
        generator = local_writer(get_settings(), session_factory)
        assert isinstance(generator.chat.model, GGUFWriterChat) and generator.chat.model.threads == 1
        assert generator.name.startswith("local-writer:") and generator.tries == 5
    else:
        with pytest.raises(FileNotFoundError, match="AUGMENT_WRITER_ENGINE=transformers"):
            local_writer(get_settings(), session_factory)
    get_settings.cache_clear()
    writer_settings.delenv("AUGMENT_WRITER_ENGINE")
    writer_settings.delenv("AUGMENT_WRITER_TRIES")
    writer_settings.delenv("AUGMENT_WRITER_THREADS")
    writer_settings.delenv("AUGMENT_WRITER_CHECKS")
    default = get_settings()
    assert (default.writer_engine, default.writer_tries, default.writer_threads, default.writer_batch,
            default.writer_checks) == ("auto", 3, None, 32, True)
    generator = local_writer(default, session_factory)  # batched by default: transformers (lm/torch_batch.py)
    assert isinstance(generator.chat.model, LocalWriterChat) and generator.batch == 32 and generator.checks
    get_settings.cache_clear()
    writer_settings.setenv("AUGMENT_WRITER_BATCH", "1")
    generator = local_writer(get_settings(), session_factory)
    assert generator.batch == 1 and isinstance(generator.chat.model,
                                               GGUFWriterChat if llama_cpp_installed() else LocalWriterChat)


def test_a_missing_adapter_is_refused_on_both_engines(tmp_path: Any) -> None:
    from augment.writer_engines import GGUFWriterChat, LocalWriterChat

    for engine in (GGUFWriterChat, LocalWriterChat):
        with pytest.raises(FileNotFoundError, match="train-writer"):
            engine(tmp_path)


@pytest.mark.slow
def test_the_shipped_writer_on_llama_cpp_names_its_target_and_stops_at_the_blank_line() -> None:
    pytest.importorskip("llama_cpp")
    from augment.writer import shipped_config
    from augment.writer_engines import GGUFWriterChat
    from tests.augment.test_writer import babadook_context

    cfg = shipped_config()
    chat = GGUFWriterChat(cfg.output)
    greedy = WriterGenerator(chat, cfg, temperature=0.0)
    ctx = babadook_context()
    assert names_target(greedy.generate(ctx, 0), ctx.target.title)
    reply = chat.complete_text(greedy.prompt(ctx), temperature=0.7, seed=3, max_tokens=200, stop=["\n\n"])
    assert "\n\n" not in reply.text and 0 < (reply.completion_tokens or 0) <= 200
    assert chat.complete_text(greedy.prompt(ctx), temperature=0.7, seed=3, max_tokens=200).text.startswith(
        reply.text)  # the same seed, the same sample
    base = GGUFWriterChat(None)
    assert base.name == "local-base:gemma-3-270m"


def test_the_main_jobs_slice_is_5_movies_of_4_dialogues_and_reads_lumicrs_demo_movies() -> None:
    """One batch of the writer (20 of its 32 rows): enough that a fresh clone's review queue is not empty by chance."""
    import typer.main

    from augment.engine_cli import llm_app

    params = {p.name: p for p in typer.main.get_command(llm_app).commands["demo"].params}  # type: ignore[attr-defined]
    assert (params["movies"].default, params["samples"].default) == (5, 4)
    assert params["movies"].envvar == "LUMICRS_DEMO_MOVIES"
