"""Wiring for the CLI: settings -> chat models (cached) -> pipeline steps."""
from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from augment.cache import CachedChat
from augment.errors import NoEndpoint
from augment.generators import OFFLINE_GENERATORS, FewShotGenerator, Generator, LLMGenerator
from augment.llm import OpenAIChat
from augment.settings import AugmentSettings
from augment.similarity import SimilarityWeights


def chat_model(settings: AugmentSettings, name: str, session_factory: sessionmaker[Session],
               base_url: str | None = None) -> CachedChat:
    url = base_url or settings.base_url
    if not url:
        raise NoEndpoint("no LLM endpoint configured: set OPENAI_BASE_URL (e.g. http://127.0.0.1:8000/v1 for vLLM) "
                         "or use an offline generator (--generator baseline-template)")
    return CachedChat(OpenAIChat(name, url, settings.api_key, max_retries=settings.max_retries,
                                 timeout_seconds=settings.timeout_seconds, deadline_seconds=settings.deadline_seconds,
                                 structured=settings.structured, fold_system=settings.fold_system),
                      session_factory)


def make_generator(settings: AugmentSettings, kind: str, session_factory: sessionmaker[Session],
                   model: str | None = None) -> Generator:
    if kind in OFFLINE_GENERATORS:
        return OFFLINE_GENERATORS[kind]()
    if kind == "local-writer":
        return local_writer(settings, session_factory)
    if kind not in ("llm", "llm-fewshot"):
        raise ValueError(f"unknown generator {kind!r}; choose llm, llm-fewshot, local-writer, "
                         f"{', '.join(OFFLINE_GENERATORS)}")
    chat = chat_model(settings, model or settings.model, session_factory)
    if kind == "llm-fewshot":
        return FewShotGenerator(chat, settings.temperature, min(settings.max_tokens, 256))
    return LLMGenerator(chat, settings.temperature, settings.max_tokens)


def local_writer(settings: AugmentSettings, session_factory: sessionmaker[Session]) -> Generator:
    """The shipped dialogue writer (augment/writer_adapter), in this process, through the LLM call cache."""
    from augment.writer import WriterGenerator, shipped_config
    from augment.writer_engines import writer_chat
    cfg = shipped_config()
    chat = writer_chat(settings.writer_engine, cfg.output, settings.writer_threads, settings.writer_batch)
    return WriterGenerator(CachedChat(chat, session_factory), cfg, settings.temperature, tries=settings.writer_tries,
                           batch=settings.writer_batch, checks=settings.writer_checks)


def make_judges(settings: AugmentSettings, session_factory: sessionmaker[Session],
                names: list[str] | None = None) -> list[CachedChat]:
    return [chat_model(settings, n, session_factory, settings.judge_base_url) for n in names or settings.judges]


def weights_from(settings: AugmentSettings) -> SimilarityWeights:
    return SimilarityWeights(settings.w_semantic, settings.w_emotional, settings.w_overlap, settings.w_interaction,
                             settings.interaction_alpha)
