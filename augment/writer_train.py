"""`lumicrs train-writer`: fit the dialogue writer's LoRA adapter, measure the held-out loss before and after, and
write the adapter with its provenance (command, config, data sha256, seed) in one step (a temp directory renamed
into place: an interrupted run leaves the previous adapter as it was)."""
from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from augment.writer import (
    WriterConfig,
    WriterPair,
    adapter_digest,
    data_digest,
    pair_texts,
    writer_pairs,
    writer_prompt,
)
from db.engine import write_transaction
from db.queries.runs import create_run, finish_run, record_metrics
from lm.language_model import hold_out_conversations

WRITER_MODEL = "writer"  # TrainingRun.model of the writer's runs


@dataclass(frozen=True)
class WriterResult:
    name: str
    device: str
    metrics: dict[str, float]
    adapter: str
    adapter_bytes: int
    data_sha256: str


def writer_device(name: str) -> Any:
    import torch
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def encode_writer_pair(lm: Any, pair: WriterPair, cfg: WriterConfig) -> tuple[list[int], list[int]]:
    """(input ids, labels) within max_length: the prompt keeps fewer prototype turns until it fits in half."""
    from lm.language_model import encode_pair
    prompt_text, target = pair_texts(pair, cfg)
    prompt = list(lm.tokenizer(prompt_text)["input_ids"])
    for keep in range(cfg.prototype_turns - 1, 0, -1):
        if len(prompt) <= cfg.max_length // 2:
            break
        shorter = cfg.model_copy(update={"prototype_turns": keep})
        prompt = list(lm.tokenizer(writer_prompt(pair.target, pair.tier, pair.prototype, shorter))["input_ids"])
    return encode_pair(lm, prompt, target, max(cfg.max_length - len(prompt) - 1, 16))


def train_writer(cfg: WriterConfig, session_factory: sessionmaker[Session], weights: Any, *, progress: bool = True,
                 command: str = "", force: bool = False, replace: bool = False) -> WriterResult:
    import torch

    from lm.language_model import add_lora, load_language_model, mean_loss, train_steps
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    device = writer_device(cfg.device)
    with session_factory() as session:
        pairs = writer_pairs(session, cfg, weights, progress=progress)
    if not pairs:
        raise ValueError(f"dataset {cfg.dataset!r} has no train dialogue whose recommender names a movie")
    train, held = hold_out_conversations(pairs, lambda p: p.conversation_id, cfg.valid_fraction, cfg.seed,
                                         minimum=1)
    picked = random.Random(cfg.seed).sample(train, min(len(train), max(cfg.steps * cfg.batch_size, 1)))
    with write_transaction(session_factory) as session:
        run_id = create_run(session, cfg.name, WRITER_MODEL, json.loads(cfg.model_dump_json()), str(device), force,
                            replace).id
    started = time.perf_counter()
    staging = cfg.output.with_name(f"{cfg.output.name}.partial")
    try:
        lm = load_language_model(cfg.base_model, device)
        held_out = [encode_writer_pair(lm, p, cfg) for p in held[:cfg.valid_rows]]
        examples = [encode_writer_pair(lm, p, cfg) for p in picked]
        metrics = {"valid_loss_before": mean_loss(lm, held_out, cfg.batch_size, device),
                   "trainable_parameters": float(add_lora(lm, cfg))}
        losses = train_steps(lm, examples, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed,
                             device=device, progress=progress)
        metrics["valid_loss_after"] = mean_loss(lm, held_out, cfg.batch_size, device)
        shutil.rmtree(staging, ignore_errors=True)
        for parameter in lm.model.parameters():  # the adapter ships in float16 (half the bytes)
            if parameter.requires_grad:
                parameter.data = parameter.data.half()
        lm.model.save_pretrained(staging)
        (staging / "README.md").unlink(missing_ok=True)  # peft's empty model-card template
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        with write_transaction(session_factory) as session:
            finish_run(session, run_id, "failed")
        raise
    window = max(1, min(10, len(losses) // 4))
    metrics.update({"steps": float(len(losses)), "pairs": float(len(pairs)), "train_pairs": float(len(train)),
                    "train_rows_seen": float(len(examples)), "valid_rows": float(len(held_out)),
                    "wall_seconds": time.perf_counter() - started,
                    "train_loss_first": sum(losses[:window]) / window if losses else float("nan"),
                    "train_loss_last": sum(losses[-window:]) / window if losses else float("nan")})
    digest = data_digest([pair_texts(p, cfg) for p in picked])
    write_provenance(staging, cfg, metrics, digest, command)
    shutil.rmtree(cfg.output, ignore_errors=True)
    staging.rename(cfg.output)
    size = (cfg.output / "adapter_model.safetensors").stat().st_size
    with write_transaction(session_factory) as session:
        record_metrics(session, run_id, "train", {**metrics, "adapter_bytes": float(size)})
        finish_run(session, run_id, "finished", str(cfg.output))
    return WriterResult(cfg.name, str(device), metrics, str(cfg.output), size, digest)


def write_provenance(directory: Path, cfg: WriterConfig, metrics: dict[str, float], digest: str, command: str) -> None:
    import peft
    import torch
    import transformers
    (directory / "provenance.json").write_text(json.dumps({
        "command": command or f"lumicrs train-writer --config configs/{cfg.dataset}_writer.yaml",
        "config": json.loads(cfg.model_dump_json(exclude={"output"})),
        "data_sha256": digest, "data": "the (prompt, dialogue) texts trained on, one JSON line each (augment.writer."
                                       "data_digest)",
        "seed": cfg.seed, "metrics": metrics, "adapter_sha256": adapter_digest(directory),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
    }, indent=2) + "\n")
