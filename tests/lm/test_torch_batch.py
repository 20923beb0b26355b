"""The batched decoder on the real packaged model with the shipped writer adapter (lm/torch_batch.py): a row's text
does not depend on the rest of its batch, the output layer stays inside the allowed tokens, and the request/attempt
contract (accept, retries, on_done, stop) is the llama.cpp engine's."""
from __future__ import annotations

from typing import Any

import pytest

from lm.llama_batch import Request

PROMPTS = ('Movie: Alien (1979) | horror\nA new conversation in which the Recommender recommends "Alien (1979)":\n',
           'Movie: Up (2009) | animation, family\nPlot: An old man ties balloons to his house.\nA new conversation in '
           'which the Recommender recommends "Up (2009)":\nSeeker:')


@pytest.fixture(scope="module")
def decoder() -> Any:
    import torch

    from augment.writer import ADAPTER_DIR
    from lm.language_model import load_language_model
    from lm.torch_batch import TorchBatchDecoder

    lm = load_language_model(None, torch.device("cpu"), ADAPTER_DIR)
    return TorchBatchDecoder(lm, None, batch=8, dtype=torch.float32)  # float32: sums agree to the last bits


def test_greedy_rows_read_the_same_in_a_batch_and_alone(decoder: Any) -> None:
    requests = [Request(tuple(decoder.tokenize(p)), (1,)) for p in PROMPTS]
    together = decoder.generate(requests, max_tokens=40, temperature=0.0, stop=["\n\n"])
    for request, attempts in zip(requests, together, strict=True):
        alone = decoder.generate([request], max_tokens=40, temperature=0.0, stop=["\n\n"])
        assert attempts[0].text == alone[0][0].text and attempts[0].completion_tokens == alone[0][0].completion_tokens
        assert attempts[0].text and "\n\n" not in attempts[0].text and attempts[0].completion_tokens <= 40


def test_a_seed_draws_the_same_text_whatever_else_is_in_the_batch(decoder: Any) -> None:
    first, second = (tuple(decoder.tokenize(p)) for p in PROMPTS)
    mixed = decoder.generate([Request(first, (5,)), Request(second, (6,)), Request(first, (7,))], max_tokens=30,
                             temperature=0.7)
    alone = decoder.generate([Request(first, (5,))], max_tokens=30, temperature=0.7)
    assert mixed[0][0].text == alone[0][0].text
    assert mixed[0][0].text != mixed[2][0].text  # another seed, another sample of the same prompt


def test_the_output_layer_keeps_to_the_allowed_tokens_and_the_prompts(decoder: Any) -> None:
    from lm.torch_batch import TorchBatchDecoder

    prompt = tuple(decoder.tokenize(PROMPTS[0]))
    narrow = TorchBatchDecoder(decoder.lm, vocabulary=[], batch=4, dtype=next(decoder.lm.model.parameters()).dtype)
    out = narrow.generate([Request(prompt, (3,))], max_tokens=25, temperature=0.7)[0][0]
    written = decoder.lm.tokenizer(out.text, add_special_tokens=False)["input_ids"]
    assert out.completion_tokens > 0 and set(written) <= set(prompt)  # only the prompt's own tokens were allowed


def test_attempts_run_until_accepted_and_each_request_is_reported_once(decoder: Any) -> None:
    prompt = tuple(decoder.tokenize(PROMPTS[1]))
    asked: list[int] = []
    done: list[tuple[int, int]] = []

    def accept(index: int, output: Any) -> bool:
        asked.append(index)
        return index == 0 or len(asked) >= 3  # request 0 at once; request 1 on its second try

    results = decoder.generate([Request(prompt, (1, 2, 3)), Request(prompt, (4, 5, 6))], max_tokens=8,
                               temperature=0.7, accept=accept, on_done=lambda i, a: done.append((i, len(a))))
    assert [len(r) for r in results] == [1, 2] and sorted(done) == [(0, 1), (1, 2)]
    stopped = decoder.generate([Request(prompt, (1,))] * 3, max_tokens=4, temperature=0.7, stop_requested=lambda: True)
    assert stopped == [[], [], []]  # nothing begins once a stop was asked


def test_a_refused_attempt_takes_its_next_seed_in_the_next_batch_ahead_of_new_requests(decoder: Any) -> None:
    """Batches of 2: request 0 refused at first, so its second seed goes with request 2's first, not after every
    request's first attempt; on_done comes as requests finish."""
    from lm.torch_batch import TorchBatchDecoder

    prompt = tuple(decoder.tokenize(PROMPTS[0]))
    pairs = TorchBatchDecoder(decoder.lm, None, batch=2, dtype=next(decoder.lm.model.parameters()).dtype)
    tried: list[int] = []
    done: list[int] = []

    def accept(index: int, output: Any) -> bool:
        tried.append(index)
        return index != 0 or tried.count(0) > 1

    pairs.generate([Request(prompt, (1, 2, 3)), Request(prompt, (4, 5, 6)), Request(prompt, (7, 8, 9))],
                   max_tokens=4, temperature=0.7, accept=accept, on_done=lambda i, a: done.append(i))
    assert tried == [0, 1, 0, 2] and done == [1, 0, 2]
