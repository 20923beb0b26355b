"""The conversation module's runs: fine-tune (or take as it is) a causal LM on recommender turns, store the run and
its losses beside the recommender's runs, and write a system's responses to a split's recommender turns into the
responses table (queued for rubric rating), with the oracle item or our recommender's predicted item."""
from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from db.engine import write_transaction
from db.queries.responses import add_response, answered_turns
from db.queries.runs import RESPONDER_MODEL, create_run, finish_run, get_run_or_raise, record_metrics
from db.types import MovieInfo
from lm.embeddings import encode_texts
from lm.language_model import (
    add_lora,
    generate,
    hold_out_conversations,
    load_language_model,
    mean_loss,
    train_steps,
)
from lm.llama_engine import Engine, LlamaModel, use_llama_cpp
from trainer.config import ResponderConfig
from trainer.conversation_data import (
    ResponseSample,
    load_response_samples,
    movies_by_id,
    slot_movie,
    titles_of,
)
from trainer.data import render_turn
from trainer.distributed import resolve_device
from trainer.responder import clean_response, encode_example, fit_prompt, hf_tokenize
from trainer.run import seed_everything, top_items_for_turns

ItemSource = Literal["oracle", "predicted"]


@dataclass(frozen=True)
class ResponderResult:
    run_id: int
    name: str
    device: str
    metrics: dict[str, float]
    losses: list[float]
    checkpoint: str


@dataclass(frozen=True)
class GenerationSummary:
    system: str
    turns: int
    written: int
    already_answered: int
    without_item: int
    seconds: float
    engine: str


def train_responder(cfg: ResponderConfig, session_factory: sessionmaker[Session], progress: bool = True,
                    force: bool = False, replace: bool = False) -> ResponderResult:
    """Fine-tune with LoRA for cfg.steps steps (0: the base model as it is); the run, its train/valid losses and
    the adapter directory are stored."""
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    with session_factory() as session:
        samples = load_response_samples(session, cfg.dataset, cfg.train_splits, cfg.max_context_turns)
        movies = movies_by_id(session, cfg.dataset)
    if not samples:
        raise ValueError(f"dataset {cfg.dataset!r} has no recommender turns in {list(cfg.train_splits)}")
    train, valid = hold_out_conversations(samples, lambda s: s.conversation_id, cfg.valid_fraction, cfg.seed,
                                          minimum=1 if cfg.valid_fraction > 0 else 0)
    with write_transaction(session_factory) as session:
        run_id = create_run(session, cfg.name, RESPONDER_MODEL, json.loads(cfg.model_dump_json()), str(device),
                            force, replace).id
    out = cfg.output_dir / cfg.name
    started = time.perf_counter()
    try:
        lm = load_language_model(cfg.base_model, device)
        held_out = [encode_example(lm, s, oracle_movie(s, movies), cfg)
                    for s in valid[:cfg.valid_batches * cfg.batch_size]]
        metrics = {"valid_loss_before": mean_loss(lm, held_out, cfg.batch_size, device)} if held_out else {}
        losses: list[float] = []
        out.mkdir(parents=True, exist_ok=True)
        if cfg.steps:
            metrics["trainable_parameters"] = float(add_lora(lm, cfg))
            picked = random.Random(cfg.seed).sample(train, min(len(train), cfg.steps * cfg.batch_size))
            losses = train_steps(lm, [encode_example(lm, s, oracle_movie(s, movies), cfg) for s in picked],
                                 steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed, device=device,
                                 progress=progress)
            if held_out:
                metrics["valid_loss_after"] = mean_loss(lm, held_out, cfg.batch_size, device)
            lm.model.save_pretrained(out / "adapter")
        (out / "config.json").write_text(cfg.model_dump_json(indent=2))
    except BaseException:
        with write_transaction(session_factory) as session:
            finish_run(session, run_id, "failed")
        raise
    window = max(1, min(10, len(losses) // 4))
    metrics.update({"steps": float(len(losses)), "train_rows": float(len(train)), "valid_rows": float(len(held_out)),
                    "wall_seconds": time.perf_counter() - started})
    if losses:
        metrics.update({"train_loss_first": float(np.mean(losses[:window])),
                        "train_loss_last": float(np.mean(losses[-window:]))})
    with write_transaction(session_factory) as session:
        record_metrics(session, run_id, "train", metrics)
        finish_run(session, run_id, "finished", str(out))
    return ResponderResult(run_id, cfg.name, str(device), metrics, losses, str(out))


def oracle_movie(sample: ResponseSample, movies: dict[int, MovieInfo]) -> MovieInfo | None:
    return movies.get(sample.oracle_movie) if sample.oracle_movie is not None else None


def responder_config(session_factory: sessionmaker[Session], name: str) -> ResponderConfig:
    with session_factory() as session:
        run = get_run_or_raise(session, name)
        if run.model != RESPONDER_MODEL:
            raise ValueError(f"run {name!r} is a recommender; give a run of `lumicrs train-responder`")
        if run.status != "finished":
            raise ValueError(f"run {name!r} is {run.status}, not finished")
        return ResponderConfig.model_validate(run.config)


@dataclass(frozen=True)
class Turns:
    """The turns to answer, each with the movie to recommend (None: the turn recommends nothing or the recommender
    did not rank it)."""

    samples: list[ResponseSample]
    movies: list[MovieInfo | None]


def turns_to_answer(session_factory: sessionmaker[Session], dataset: str, split: str, item: ItemSource,
                    recommender: str | None, limit: int | None, seed: int, max_turns: int) -> Turns:
    """A split's recommender turns (a seeded sample of `limit`), with the oracle or the predicted movie."""
    if item == "predicted" and not recommender:
        raise ValueError("--item predicted needs --recommender RUN (a trained recommender); or use --item oracle")
    with session_factory() as session:
        samples = load_response_samples(session, dataset, [split], max_turns)
        movies = movies_by_id(session, dataset)
    if not samples:
        raise ValueError(f"dataset {dataset!r} has no recommender turns in split {split!r}")
    if limit is not None and limit < len(samples):
        samples = sorted(random.Random(seed).sample(samples, limit), key=lambda s: (s.conversation_id, s.position))
    if item == "oracle":
        return Turns(samples, [oracle_movie(s, movies) for s in samples])
    predicted = top_items_for_turns(str(recommender), session_factory, dataset, split)
    picked = [predicted.get((s.conversation_id, s.merged_index)) if s.gold_movies else None for s in samples]
    return Turns(samples, [movies.get(m) if m is not None else None for m in picked])


def write_responses(session_factory: sessionmaker[Session], system: str, turns: Turns, overlap: int,
                    respond: Callable[[list[ResponseSample], list[MovieInfo | None]], list[str]],
                    batch_size: int, progress: bool, engine: str) -> GenerationSummary:
    """Answer every turn `system` has not answered yet, a batch at a time, each batch committed (an interrupted run
    keeps what it wrote and a rerun goes on from there)."""
    from tqdm import tqdm
    started = time.perf_counter()
    with session_factory() as session:
        done = answered_turns(session, system)
    todo = [i for i, s in enumerate(turns.samples) if (s.conversation_id, s.position) not in done]
    written = 0
    for start in tqdm(range(0, len(todo), batch_size), desc=f"respond ({system})", disable=not progress,
                      unit="batch"):
        rows = todo[start:start + batch_size]
        texts = respond([turns.samples[i] for i in rows], [turns.movies[i] for i in rows])
        with write_transaction(session_factory) as session:
            written += sum(add_response(session, turns.samples[i].conversation_id, turns.samples[i].position, system,
                                        text, overlap) for i, text in zip(rows, texts))
    without_item = sum(m is None for s, m in zip(turns.samples, turns.movies) if s.gold_movies)
    return GenerationSummary(system, len(turns.samples), written, len(turns.samples) - len(todo), without_item,
                             time.perf_counter() - started, engine)


def generate_responses(session_factory: sessionmaker[Session], run: str, turns: Turns, system: str, *,
                       overlap: int = 3, batch_size: int = 8, progress: bool = True,
                       engine: Engine = "auto") -> GenerationSummary:
    """Greedy responses of a responder run; engine auto: llama.cpp (lm/llama_engine.py, the adapter as a GGUF LoRA
    on the packaged Q4_K_M model) when installed and the run's base is the packaged model, else transformers on the
    dequantized model the adapter was trained on. The two give close, not identical, text (4-bit vs float32)."""
    cfg = responder_config(session_factory, run)
    adapter_dir = cfg.output_dir / cfg.name / "adapter"
    adapter = adapter_dir if adapter_dir.exists() else None
    if use_llama_cpp(engine, cfg.base_model):
        llama = LlamaModel(adapter)

        def respond(samples: list[ResponseSample], movies: list[MovieInfo | None]) -> list[str]:
            return [clean_response(llama.complete(fit_prompt(llama.tokenize, s, m, cfg, cfg.max_length),
                                                  max_tokens=cfg.max_new_tokens, stop=("\n",)).text)
                    for s, m in zip(samples, movies)]

        return write_responses(session_factory, system, turns, overlap, respond, batch_size, progress, "llama.cpp")
    device = resolve_device(cfg.device)
    lm = load_language_model(cfg.base_model, device, adapter)

    tokenize = hf_tokenize(lm)

    def respond_hf(samples: list[ResponseSample], movies: list[MovieInfo | None]) -> list[str]:
        prompts = [fit_prompt(tokenize, s, m, cfg, cfg.max_length) for s, m in zip(samples, movies)]
        return [clean_response(text) for text in generate(lm, prompts, cfg.max_new_tokens, device)]

    return write_responses(session_factory, system, turns, overlap, respond_hf, batch_size, progress, "transformers")


def retrieval_responses(session_factory: sessionmaker[Session], dataset: str, train_splits: Sequence[str],
                        turns: Turns, system: str, *, overlap: int = 3, progress: bool = True,
                        encoder_path: str | None = None) -> GenerationSummary:
    """The retrieval baseline: the training recommender turn whose last two context turns are most similar (SBERT
    cosine) among those that recommend a movie exactly when this turn does, its movie titles replaced by this
    turn's movie."""
    with session_factory() as session:
        pool = load_response_samples(session, dataset, train_splits, 2)
        movies = movies_by_id(session, dataset)
    if not pool:
        raise ValueError(f"dataset {dataset!r} has no recommender turns in {list(train_splits)} to retrieve from")
    groups = {flag: [s for s in pool if bool(s.gold_movies) == flag] or pool for flag in (False, True)}
    vectors: dict[bool, np.ndarray] = {}  # encoded on the first batch: a resumed run with nothing left skips it

    def respond(samples: list[ResponseSample], picked: list[MovieInfo | None]) -> list[str]:
        if not vectors:
            vectors.update({flag: encode_texts([short_context(s) for s in group], encoder_path, progress=progress)
                            for flag, group in groups.items()})
        queries = encode_texts([short_context(s) for s in samples], encoder_path, progress=False)
        texts = []
        for sample, query, movie in zip(samples, queries, picked):
            flag = bool(sample.gold_movies)
            best = groups[flag][int(np.argmax(vectors[flag] @ query))]
            texts.append(slot_movie(best.reference, titles_of(best.gold_movies, movies), movie.title if movie else None))
        return texts

    return write_responses(session_factory, system, turns, overlap, respond, 256, progress, "retrieval")


def short_context(sample: ResponseSample) -> str:
    return "\n".join(render_turn(role, text) for role, text in sample.context[-2:])


RETRIEVAL = "retrieval"


def answer_split(session_factory: sessionmaker[Session], run: str, *, dataset: str, split: str, item: str,
                 recommender: str | None = None, limit: int | None = None, seed: int = 0, overlap: int = 3,
                 system: str | None = None, batch_size: int = 8, progress: bool = True,
                 engine: Engine = "auto") -> GenerationSummary:
    """`lumicrs generate-responses`: a responder run's (or the retrieval baseline's) responses to a split's turns,
    stored as system `RUN:ITEM` unless named."""
    if item not in ("oracle", "predicted"):
        raise ValueError(f"--item must be 'predicted' or 'oracle', not {item!r}")
    source: ItemSource = "oracle" if item == "oracle" else "predicted"
    name = system or f"{run}:{item}"
    if run == RETRIEVAL:
        turns = turns_to_answer(session_factory, dataset, split, source, recommender, limit, seed, 2)
        return retrieval_responses(session_factory, dataset, ["train"], turns, name, overlap=overlap,
                                   progress=progress)
    cfg = responder_config(session_factory, run)
    turns = turns_to_answer(session_factory, dataset, split, source, recommender, limit, seed, cfg.max_context_turns)
    return generate_responses(session_factory, run, turns, name, overlap=overlap, batch_size=batch_size,
                              progress=progress, engine=engine)

