"""Many generations at once on one llama.cpp context: each prompt its own sequence (its own KV stream), one decode
per step for every live sequence. A 270M model on CPU spends each step re-reading every weight and projecting onto
its 262k-token vocabulary; a step that carries 16 sequences reads the weights once for all of them.

The sampler of each sequence is the chain llama-cpp-python's `create_completion` builds for the same settings (top-k
40, top-p 0.95, min-p 0.05, temperature, then a seeded draw; greedy at temperature 0), so a sequence's tokens are
the one-at-a-time engine's (lm/llama_engine.py) wherever the logits agree (tests/lm/test_llama_batch.py).
"""
from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lm.llama_engine import LlamaOutput, quiet_stderr

TOP_K, TOP_P, MIN_P = 40, 0.95, 0.05  # create_completion's defaults


@dataclass(frozen=True)
class Request:
    """One continuation wanted: its prompt, and a seed per attempt (tried in order until one is accepted)."""
    prompt: tuple[int, ...]
    seeds: tuple[int, ...]


@dataclass
class _Stream:
    """The request a sequence slot is working on, and its current attempt."""
    index: int
    request: Request
    started: float
    sampler: Any = None
    attempt: int = 0
    tokens: list[int] = field(default_factory=list)
    text: bytes = b""
    cut: str | None = None  # the text up to its first stop string, once one appeared
    outputs: list[LlamaOutput] = field(default_factory=list)


class BatchedLlama:
    """The packaged GGUF (or `model_path`) with an optional GGUF LoRA, `streams` sequences of up to `stream_context`
    tokens each, decoded together. Loaded on first use; one `complete_many` at a time (a lock)."""

    def __init__(self, lora: Path | None, model_path: Path | None = None, threads: int | None = None,
                 streams: int = 16, stream_context: int = 1024, batch_tokens: int = 1024) -> None:
        self.lora, self.model_path = lora, model_path
        self.threads = threads or os.cpu_count() or 1
        self.streams, self.stream_context, self.batch_tokens = streams, stream_context, batch_tokens
        self._handles: tuple[Any, Any, Any, Any] | None = None  # model, context, vocab, adapter
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, Any, Any, Any]:
        if self._handles is None:
            import llama_cpp

            from lm.placeholder_model import packaged_model
            llama_cpp.llama_backend_init()
            with quiet_stderr():
                model = llama_cpp.llama_model_load_from_file(str(self.model_path or packaged_model()).encode(),
                                                             llama_cpp.llama_model_default_params())
                if not model:
                    raise RuntimeError(f"llama.cpp could not load {self.model_path or packaged_model()}")
                params = llama_cpp.llama_context_default_params()
                params.n_ctx = self.streams * self.stream_context
                params.n_batch = params.n_ubatch = self.batch_tokens
                params.n_seq_max = self.streams
                params.kv_unified = False  # a KV stream per sequence: attention reads its own tokens only
                params.n_threads = params.n_threads_batch = self.threads
                params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED  # as the one-at-a-time engine
                context = llama_cpp.llama_init_from_model(model, params)
                if not context:
                    raise RuntimeError("llama.cpp could not create a context of "
                                       f"{self.streams} x {self.stream_context} tokens")
                adapter = None
                if self.lora is not None:
                    adapter = llama_cpp.llama_adapter_lora_init(model, str(self.lora).encode())
                    if not adapter:
                        raise RuntimeError(f"llama.cpp could not load the LoRA {self.lora}")
                    adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(adapter)
                    llama_cpp.llama_set_adapters_lora(context, adapters, 1, (ctypes.c_float * 1)(1.0))
            self._handles = (model, context, llama_cpp.llama_model_get_vocab(model), adapter)
        return self._handles

    def close(self) -> None:
        if self._handles is not None:
            import llama_cpp
            model, context, _, adapter = self._handles
            llama_cpp.llama_free(context)
            if adapter is not None:
                llama_cpp.llama_adapter_lora_free(adapter)
            llama_cpp.llama_model_free(model)
            self._handles = None

    def tokenize(self, text: str) -> list[int]:
        """The model's token ids for `text`, beginning-of-text first (lm.llama_engine.LlamaModel.tokenize's)."""
        import llama_cpp
        _, _, vocab, _ = self._load()
        data = text.encode("utf-8")
        buffer = (llama_cpp.llama_token * (len(data) + 8))()
        n = llama_cpp.llama_tokenize(vocab, data, len(data), buffer, len(buffer), True, True)
        if n < 0:
            raise ValueError(f"could not tokenize a text of {len(data)} bytes")
        return list(buffer[:n])

    def _piece(self, vocab: Any, token: int) -> bytes:
        import llama_cpp
        buffer = ctypes.create_string_buffer(64)
        n = llama_cpp.llama_token_to_piece(vocab, token, buffer, len(buffer), 0, False)
        if n < 0:
            buffer = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(vocab, token, buffer, len(buffer), 0, False)
        return buffer.raw[:n]

    def _sampler(self, temperature: float, seed: int) -> Any:
        import llama_cpp
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        if temperature <= 0:
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_greedy())
            return chain
        for sampler in (llama_cpp.llama_sampler_init_top_k(TOP_K), llama_cpp.llama_sampler_init_typical(1.0, 1),
                        llama_cpp.llama_sampler_init_top_p(TOP_P, 1), llama_cpp.llama_sampler_init_min_p(MIN_P, 1),
                        llama_cpp.llama_sampler_init_temp(temperature), llama_cpp.llama_sampler_init_dist(seed)):
            llama_cpp.llama_sampler_chain_add(chain, sampler)
        return chain

    def complete_many(self, prompts: Sequence[Sequence[int]], seeds: Sequence[int], *, max_tokens: int,
                      temperature: float = 0.0, stop: Sequence[str] = ()) -> list[LlamaOutput]:
        """One continuation per prompt (its seed), `streams` at a time; see `generate`."""
        results = self.generate([Request(tuple(p), (s,)) for p, s in zip(prompts, seeds, strict=True)],
                                max_tokens=max_tokens, temperature=temperature, stop=stop)
        return [attempts[0] for attempts in results]

    def generate(self, requests: Sequence[Request], *, max_tokens: int, temperature: float = 0.0,
                 stop: Sequence[str] = (), accept: Callable[[int, LlamaOutput], bool] | None = None,
                 on_done: Callable[[int, list[LlamaOutput]], None] | None = None,
                 stop_requested: Callable[[], bool] | None = None) -> list[list[LlamaOutput]]:
        """Every request's attempts, decoded `streams` at a time with continuous batching: a slot whose request is
        done takes the next one at once (its prompt decoded in the same batch as the other slots' next tokens).

        An attempt is greedy at temperature 0, else sampled with its own seed; it ends at the end-of-generation
        token, its first stop string (cut there, as create_completion does) or max_tokens. After each attempt,
        `accept(request index, output)` (absent: always) says whether the request is done; if not, the next seed
        tries again from the same prompt, whose cached keys and values are kept (only its last token is decoded
        again). `on_done(index, attempts)` is called as each request finishes (in finishing order); the result is in
        request order. Once `stop_requested()` is true no request begins; those in flight finish, the others keep
        an empty list. latency_ms: from the request's start to the attempt's end."""
        for i, request in enumerate(requests):
            if not request.prompt or not request.seeds or len(request.prompt) + max_tokens > self.stream_context:
                raise ValueError(f"request {i}: {len(request.prompt)} prompt tokens + {max_tokens} new exceed the "
                                 f"stream context of {self.stream_context} tokens, or it has no seed")
            if len(request.prompt) > self.batch_tokens:
                raise ValueError(f"request {i}: a prompt of {len(request.prompt)} tokens exceeds a batch of "
                                 f"{self.batch_tokens}")
        results: list[list[LlamaOutput]] = [[] for _ in requests]
        with self._lock:
            self._run(requests, results, max_tokens, temperature, list(stop), accept, on_done,
                      stop_requested or (lambda: False))
        return results

    def _run(self, requests: Sequence[Request], results: list[list[LlamaOutput]], max_tokens: int, temperature: float,
             stop: list[str], accept: Callable[[int, LlamaOutput], bool] | None,
             on_done: Callable[[int, list[LlamaOutput]], None] | None, stop_requested: Callable[[], bool]) -> None:
        import llama_cpp
        _, context, vocab, _ = self._load()
        memory = llama_cpp.llama_get_memory(context)
        llama_cpp.llama_memory_clear(memory, True)
        waiting = list(range(len(requests)))[::-1]  # popped from the end: request order
        slots: list[_Stream | None] = [None] * self.streams
        pending: list[list[tuple[int, int, int, bool]]] = [[] for _ in range(self.streams)]
        batch = llama_cpp.llama_batch_init(self.batch_tokens, 0, 1)
        try:
            while waiting or any(slot is not None for slot in slots):
                if stop_requested():
                    waiting.clear()
                    if all(slot is None for slot in slots):
                        break
                rows: list[tuple[int, int, int, bool]] = []
                owners: list[int] = []
                for seq in range(self.streams):  # the live slots' next token first: they never wait
                    if slots[seq] is not None and pending[seq]:
                        rows += pending[seq]
                        owners += [seq] * len(pending[seq])
                for seq in range(self.streams):  # then new requests, as many prompts as the batch holds
                    if slots[seq] is None and waiting and len(rows) + len(requests[waiting[-1]].prompt) <= \
                            self.batch_tokens:
                        index = waiting.pop()
                        fresh = _Stream(index, requests[index], time.perf_counter())
                        slots[seq] = fresh
                        llama_cpp.llama_memory_seq_rm(memory, seq, -1, -1)
                        fresh.sampler = self._sampler(temperature, fresh.request.seeds[0])
                        prompt = fresh.request.prompt
                        rows += [(t, pos, seq, pos == len(prompt) - 1) for pos, t in enumerate(prompt)]
                        owners += [seq] * len(prompt)
                if not rows:
                    raise RuntimeError("no token to decode: the batch is too small for the next prompt")
                outputs = self._fill(batch, rows)
                self._decode(context, batch)
                for seq in range(self.streams):
                    pending[seq] = []
                for row in outputs:
                    seq = owners[row]
                    stream = slots[seq]
                    assert stream is not None
                    if self._take(stream, row, context, vocab, max_tokens, stop):
                        pending[seq] = [(stream.tokens[-1], len(stream.request.prompt) + len(stream.tokens) - 1,
                                         seq, True)]
                        continue
                    # the attempt ended
                    text = stream.cut if stream.cut is not None else stream.text.decode("utf-8", errors="ignore")
                    stream.outputs.append(LlamaOutput(text, len(stream.request.prompt), len(stream.tokens),
                                                      (time.perf_counter() - stream.started) * 1000))
                    llama_cpp.llama_sampler_free(stream.sampler)
                    stream.sampler = None
                    more = stream.attempt + 1 < len(stream.request.seeds)
                    if more and accept is not None and not accept(stream.index, stream.outputs[-1]):
                        stream.attempt += 1
                        stream.tokens, stream.text, stream.cut = [], b"", None
                        stream.sampler = self._sampler(temperature, stream.request.seeds[stream.attempt])
                        last = len(stream.request.prompt) - 1  # keep the prompt, decode its last token again
                        llama_cpp.llama_memory_seq_rm(memory, seq, last, -1)
                        pending[seq] = [(stream.request.prompt[last], last, seq, True)]
                        continue
                    results[stream.index] = stream.outputs
                    slots[seq] = None
                    if on_done is not None:
                        on_done(stream.index, stream.outputs)
        finally:
            llama_cpp.llama_batch_free(batch)
            for slot in slots:
                if slot is not None and slot.sampler is not None:
                    llama_cpp.llama_sampler_free(slot.sampler)

    @staticmethod
    def _fill(batch: Any, rows: list[tuple[int, int, int, bool]]) -> list[int]:
        """(token, position, sequence, wants logits) per row -> the rows that want logits."""
        for i, (token, pos, seq, logits) in enumerate(rows):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, pos, 1, logits
            batch.seq_id[i][0] = seq
        batch.n_tokens = len(rows)
        return [i for i, row in enumerate(rows) if row[3]]

    @staticmethod
    def _decode(context: Any, batch: Any) -> None:
        import llama_cpp
        status = llama_cpp.llama_decode(context, batch)
        if status != 0:
            raise RuntimeError(f"llama_decode failed with status {status} on a batch of {batch.n_tokens} tokens")

    def _take(self, s: _Stream, row: int, context: Any, vocab: Any, max_tokens: int, stop: list[str]) -> bool:
        """Draw the stream's next token from the logits of batch row `row`; False once its attempt has ended."""
        import llama_cpp
        token = int(llama_cpp.llama_sampler_sample(s.sampler, context, row))
        if llama_cpp.llama_vocab_is_eog(vocab, token):
            return False
        s.tokens.append(token)
        s.text += self._piece(vocab, token)
        if stop:
            decoded = s.text.decode("utf-8", errors="ignore")
            hits = [decoded.index(x) for x in stop if x in decoded]
            if hits:
                s.cut = decoded[:min(hits)]
                return False
        return len(s.tokens) < max_tokens
