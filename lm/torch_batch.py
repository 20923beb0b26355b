"""Many generations at once on the transformers model (the writer's adapter merged in): the batched path of the
dialogue writer on CPU and GPU.

Why it is fast on this CPU: the model runs in bfloat16 where the CPU has bfloat16 matrix units (AMX, AVX512-BF16;
float32 elsewhere), a batch of prompts is decoded in one forward per step, finished rows leave the batch (their cached
keys and values are dropped), and the output layer is restricted to the tokens the writer may write: the packaged
vocabulary has 262,144 tokens, most of a 270M model's cost per generated token; `vocabulary` (token ids) keeps the
ones the caller allows (the writer: the training dialogues' tokens plus every prompt's own).

Requests are decoded `batch` rows at a time, new ones in order of prompt length (less padding); a request whose
attempt `accept` refused takes its next seed in the very next batch, ahead of new requests, so each request is done
(on_done) within a batch or two of its start: progress counts finished requests at the rate they are made, and a
stopped run leaves few requests half-tried. The sampler of a row is
llama.cpp's default chain (top-k 40, top-p 0.95, min-p 0.05, then the temperature and a draw from a generator seeded
with the row's seed; greedy at temperature 0), so the same seed draws the same way whatever else is in the batch, up
to the float sums of a batched product.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from lm.llama_batch import MIN_P, TOP_K, TOP_P, Request
from lm.llama_engine import LlamaOutput


def fast_dtype() -> Any:
    """bfloat16 where the CPU multiplies it natively (or on a GPU), else float32."""
    import torch
    if torch.cuda.is_available():
        return torch.bfloat16
    native = torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
    return torch.bfloat16 if native else torch.float32


class TorchBatchDecoder:
    """`lm` (lm.language_model.LanguageModel, adapter merged) in `dtype` (None: fast_dtype()), `batch` rows per
    forward."""

    def __init__(self, lm: Any, vocabulary: Iterable[int] | None = None, batch: int = 32, dtype: Any = None) -> None:
        import torch
        self.lm, self.batch = lm, batch
        self.device = next(lm.model.parameters()).device
        lm.model.to(dtype or fast_dtype()).eval()
        self.base = lm.model.model  # the decoder stack without the output layer
        self.weight = lm.model.lm_head.weight
        eos = lm.model.generation_config.eos_token_id
        self.eos = set(eos if isinstance(eos, list) else [eos] if eos is not None else [lm.tokenizer.eos_token_id])
        self._pieces: dict[int, str] = {}
        self.torch = torch
        self.restrict_to(vocabulary)

    def restrict_to(self, vocabulary: Iterable[int] | None) -> None:
        """The tokens the output layer keeps (with the end-of-generation ones and each prompt's own); None: all."""
        self.fixed: set[int] | None = set(vocabulary) | self.eos if vocabulary is not None else None

    def tokenize(self, text: str) -> list[int]:
        """Token ids, beginning-of-text first (the writer's training encoding)."""
        return list(self.lm.tokenizer(text)["input_ids"])

    def generate(self, requests: Sequence[Request], *, max_tokens: int, temperature: float = 0.0,
                 stop: Sequence[str] = (), accept: Callable[[int, LlamaOutput], bool] | None = None,
                 on_done: Callable[[int, list[LlamaOutput]], None] | None = None,
                 stop_requested: Callable[[], bool] | None = None) -> list[list[LlamaOutput]]:
        """lm.llama_batch.BatchedLlama.generate's contract: each request's attempts until one is accepted."""
        results: list[list[LlamaOutput]] = [[] for _ in requests]
        started: dict[int, float] = {}
        fresh = deque(sorted(range(len(requests)), key=lambda i: len(requests[i].prompt)))
        retry: deque[tuple[int, int]] = deque()
        while fresh or retry:
            if stop_requested is not None and stop_requested():
                return results
            chunk = [retry.popleft() for _ in range(min(self.batch, len(retry)))]
            chunk += [(fresh.popleft(), 0) for _ in range(min(self.batch - len(chunk), len(fresh)))]
            for i, _ in chunk:
                started.setdefault(i, time.perf_counter())
            texts = self._decode([requests[i].prompt for i, _ in chunk], [requests[i].seeds[a] for i, a in chunk],
                                 max_tokens, temperature, list(stop))
            for (i, attempt), (text, produced) in zip(chunk, texts, strict=True):
                output = LlamaOutput(text, len(requests[i].prompt), produced, (time.perf_counter() - started[i]) * 1000)
                results[i].append(output)
                if attempt + 1 < len(requests[i].seeds) and accept is not None and not accept(i, output):
                    retry.append((i, attempt + 1))
                elif on_done is not None:
                    on_done(i, results[i])
        return results

    def _piece(self, token: int) -> str:
        if token not in self._pieces:
            self._pieces[token] = self.lm.tokenizer.decode([token])
        return self._pieces[token]

    def _decode(self, prompts: list[tuple[int, ...]], seeds: list[int], max_tokens: int, temperature: float,
                stop: list[str]) -> list[tuple[str, int]]:
        """One forward per step over the live rows; (text cut at its first stop string, tokens generated) per row."""
        torch = self.torch
        n = len(prompts)
        allowed = torch.tensor(sorted(self.fixed.union(*prompts)) if self.fixed is not None
                               else range(self.weight.shape[0]), device=self.device)
        weight = self.weight[allowed]
        width = max(len(p) for p in prompts)
        pad = self.lm.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(p)) + list(p) for p in prompts], device=self.device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        generators = [torch.Generator(device=self.device).manual_seed(seed) for seed in seeds]
        tokens: list[list[int]] = [[] for _ in range(n)]
        pieces = [""] * n
        live = list(range(n))
        cache = None
        step_ids = ids
        with torch.no_grad():
            while live:
                positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, -step_ids.shape[1]:]
                out = self.base(input_ids=step_ids, attention_mask=mask, position_ids=positions,
                                cache=cache, use_cache=True)
                cache = out.cache
                logits = torch.nn.functional.linear(out.last_hidden_state[:, -1], weight).float()
                chosen = allowed[self._sample(logits, [generators[r] for r in live], temperature)].tolist()
                keep = []
                for k, (row, token) in enumerate(zip(live, chosen, strict=True)):
                    if token in self.eos:
                        continue
                    tokens[row].append(token)
                    pieces[row] += self._piece(token)
                    if any(s in pieces[row] for s in stop) or len(tokens[row]) >= max_tokens:
                        continue
                    keep.append(k)
                if len(keep) < len(live):
                    index = torch.tensor(keep, dtype=torch.long, device=self.device)
                    if keep:
                        cache.batch_select_indices(index)
                    mask = mask[index]
                    live = [live[k] for k in keep]
                    chosen = [chosen[k] for k in keep]
                if not live:
                    break
                step_ids = torch.tensor(chosen, device=self.device)[:, None]
                mask = torch.cat([mask, torch.ones((len(live), 1), dtype=mask.dtype, device=self.device)], dim=1)
        texts = []
        for row in range(n):
            text = self.lm.tokenizer.decode(tokens[row], skip_special_tokens=True)
            hits = [text.index(s) for s in stop if s in text]
            texts.append((text[:min(hits)] if hits else text, len(tokens[row])))
        return texts

    def _sample(self, logits: Any, generators: list[Any], temperature: float) -> Any:
        """Column index per row: argmax at temperature 0, else llama.cpp's default chain with the row's generator."""
        torch = self.torch
        if temperature <= 0:
            return logits.argmax(dim=-1)
        values, index = logits.topk(min(TOP_K, logits.shape[-1]), dim=-1)  # sorted, highest first
        probs = values.softmax(dim=-1)
        before = probs.cumsum(dim=-1) - probs  # mass above each candidate: keep until top-p is reached
        keep = (before < TOP_P) & (probs >= MIN_P * probs[:, :1])
        keep[:, 0] = True
        scaled = (values / temperature).masked_fill(~keep, float("-inf")).softmax(dim=-1)
        picks = [int(torch.multinomial(scaled[r], 1, generator=g)) for r, g in enumerate(generators)]
        return index[torch.arange(len(picks), device=logits.device), torch.tensor(picks, device=logits.device)]
