"""The engines the dialogue writer runs on, in this process and without an endpoint, as text-continuing chat models
(`complete_text`: temperature, max_tokens, seed and stop strings honoured; one generation at a time, a lock: each
uses every core already).

- llama.cpp (`GGUFWriterChat`, the default when scripts/setup_llm.sh installed it): lm/llama_engine.py, shared with
  the response generator: the packaged Q4_K_M GGUF with the adapter converted to a GGUF LoRA (lm/gguf_lora.py).
  About 9x faster on 2 cores (README "Dialogue writer").
- transformers + peft (`LocalWriterChat`): the dequantized model the adapter was trained on; the fallback.
With adapter=None either engine is the base model (the few-shot arm of benchmarks/writer_quality.py).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from augment.llm import Completion, Message
from augment.writer import ADAPTER_DIR, adapter_digest
from lm.llama_engine import Engine, LlamaModel, use_llama_cpp


def _cut(text: str, stops: Any) -> str:
    for stop in stops or ():
        text = text.split(stop, 1)[0]
    return text


class TextEngine:
    """What both engines share: the adapter (refused when missing), the name by engine and adapter digest, and no
    chat API. Each runs one generation at a time (its own lock; llama.cpp's is lm.llama_engine.LlamaModel's)."""

    engine = ""  # the name's suffix after local-writer / local-base

    def __init__(self, adapter: Path | None) -> None:
        if adapter is not None and not (adapter / "adapter_model.safetensors").exists():
            raise FileNotFoundError(f"{adapter}: no writer adapter (train one: lumicrs train-writer --config "
                                    "configs/redial_writer.yaml)")
        self.adapter = adapter
        self.name = (f"local-writer{self.engine}:{adapter_digest(adapter)[:12]}" if adapter is not None
                     else f"local-base{self.engine}:gemma-3-270m")

    def complete(self, messages: list[Message], **params: Any) -> Completion:
        raise ValueError("the local writer continues text only (complete_text); it is not a chat model")


class LocalWriterChat(TextEngine):
    """transformers + peft on the CPU (or GPU): the model the adapter was trained on."""

    engine = "-hf"

    def __init__(self, adapter: Path | None = ADAPTER_DIR, base_model: str | None = None, device: str = "cpu") -> None:
        super().__init__(adapter)
        self.base_model, self.device = base_model, device
        self._lm: Any = None
        self._lock = threading.Lock()

    def _model(self) -> Any:
        if self._lm is None:
            import torch

            from lm.language_model import load_language_model
            self._lm = load_language_model(self.base_model, torch.device(self.device), self.adapter)
        return self._lm

    def batched(self, streams: int) -> Any:
        """The same merged model on lm/torch_batch.py, `streams` rows per forward (its output layer restricted by
        augment.writer_batch.restrict_vocabulary). Converts the model to lm.torch_batch.fast_dtype() in place."""
        from lm.torch_batch import TorchBatchDecoder
        with self._lock:
            return TorchBatchDecoder(self._model(), None, streams)

    def complete_text(self, prompt: str, **params: Any) -> Completion:
        import torch

        from lm.language_model import generate
        with self._lock:
            lm = self._model()
            ids = list(lm.tokenizer(prompt)["input_ids"])
            started = time.perf_counter()
            (text,) = generate(lm, [ids], int(params.get("max_tokens", 200)), torch.device(self.device),
                               stop_at_newline=False, temperature=float(params.get("temperature", 0.7)),
                               seed=int(params.get("seed", 0)))
            latency = (time.perf_counter() - started) * 1000
        text = _cut(text, params.get("stop"))
        produced = len(lm.tokenizer(text, add_special_tokens=False)["input_ids"])  # up to the stop, as llama.cpp counts
        return Completion(text, len(ids), produced, latency)


class GGUFWriterChat(TextEngine):
    """llama.cpp (lm/llama_engine.py) in this process: the packaged GGUF plus the adapter as a GGUF LoRA."""

    def __init__(self, adapter: Path | None = ADAPTER_DIR, model_path: Path | None = None, threads: int | None = None,
                 context: int = 2048) -> None:
        super().__init__(adapter)
        self.llama = LlamaModel(adapter, model_path, threads, context)
        self._batched: dict[int, Any] = {}

    @property
    def threads(self) -> int:
        return self.llama.threads

    def batched(self, streams: int) -> Any:
        """The same model and adapter on lm/llama_batch.py, `streams` dialogues at a time (made once per count; its
        output layer cannot be restricted)."""
        from lm.gguf_lora import cached_gguf_adapter
        from lm.llama_batch import BatchedLlama
        from lm.placeholder_model import cache_dir
        if streams not in self._batched:
            lora = cached_gguf_adapter(self.adapter, cache_dir()) if self.adapter is not None else None
            self._batched[streams] = BatchedLlama(lora, self.llama.model_path, self.llama.threads, streams)
        return self._batched[streams]

    def complete_text(self, prompt: str, **params: Any) -> Completion:
        out = self.llama.complete(prompt, max_tokens=int(params.get("max_tokens", 200)),
                                  temperature=float(params.get("temperature", 0.7)), seed=int(params.get("seed", 0)),
                                  stop=list(params.get("stop") or ()))
        return Completion(out.text, out.prompt_tokens, out.completion_tokens, out.latency_ms)


def writer_chat(engine: Engine = "auto", adapter: Path | None = ADAPTER_DIR, threads: int | None = None,
                batch: int = 1) -> Any:
    """The writer on `engine`; auto: one at a time (batch 1) llama.cpp when installed (scripts/setup_llm.sh), else
    transformers; batched, transformers (lm/torch_batch.py: about 3x llama.cpp's batched rate on this CPU, docs/writer.md)."""
    if batch > 1 and engine == "auto":
        return LocalWriterChat(adapter)
    if use_llama_cpp(engine, None, "set AUGMENT_WRITER_ENGINE=transformers"):
        return GGUFWriterChat(adapter, threads=threads)
    return LocalWriterChat(adapter)
