"""Many sequences on one llama.cpp context (lm/llama_batch.py), on the packaged GGUF with the shipped writer LoRA:
one sequence alone is the one-at-a-time engine's text, a row's sample does not depend on its neighbours beyond the
float sums, and retries restart from the kept prompt."""
from __future__ import annotations

from typing import Any

import pytest

from lm.llama_batch import Request

pytest.importorskip("llama_cpp")

PROMPT = 'Movie: Alien (1979) | horror\nA new conversation in which the Recommender recommends "Alien (1979)":\n'
OTHER = 'Movie: Up (2009) | animation\nA new conversation in which the Recommender recommends "Up (2009)":\nSeeker:'


@pytest.fixture(scope="module")
def engines() -> Any:
    from augment.writer import ADAPTER_DIR
    from lm.gguf_lora import cached_gguf_adapter
    from lm.llama_batch import BatchedLlama
    from lm.llama_engine import LlamaModel
    from lm.placeholder_model import cache_dir

    lora = cached_gguf_adapter(ADAPTER_DIR, cache_dir())
    return LlamaModel(ADAPTER_DIR), BatchedLlama(lora, streams=1, stream_context=512), \
        BatchedLlama(lora, streams=4, stream_context=512)


def test_one_sequence_alone_is_the_one_at_a_time_engines_greedy_text(engines: Any) -> None:
    one, single, _ = engines
    for text in (PROMPT, OTHER):
        ids = one.tokenize(text)
        assert single.tokenize(text) == ids
        expected = one.complete(ids, max_tokens=40, temperature=0.0, stop=["\n\n"])
        got = single.complete_many([ids], [0], max_tokens=40, temperature=0.0, stop=["\n\n"])[0]
        assert (got.text, got.completion_tokens) == (expected.text, expected.completion_tokens)


def test_batched_rows_end_at_their_stop_and_retries_keep_the_prompt(engines: Any) -> None:
    _, _, batched = engines
    prompts = [tuple(batched.tokenize(t)) for t in (PROMPT, OTHER, PROMPT, OTHER, PROMPT)]  # 5 requests, 4 streams
    tries: list[int] = []

    def accept(index: int, output: Any) -> bool:
        tries.append(index)
        return index != 2  # request 2 is refused every time: it uses its three seeds
    finished: list[int] = []
    results = batched.generate([Request(p, (1, 2, 3)) for p in prompts], max_tokens=30, temperature=0.7,
                               stop=["\n\n"], accept=accept, on_done=lambda i, a: finished.append(i))
    assert [len(r) for r in results] == [1, 1, 3, 1, 1] and sorted(finished) == [0, 1, 2, 3, 4]
    assert all("\n\n" not in a.text and 0 < a.completion_tokens <= 30 for r in results for a in r)
    assert len({results[2][0].text, results[2][1].text, results[2][2].text}) >= 2  # three seeds, not one sample
    with pytest.raises(ValueError, match="stream context"):
        batched.generate([Request(prompts[0], (1,))], max_tokens=600)
