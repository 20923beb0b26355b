"""Run LLM calls on a thread pool with a progress bar; failures after retries are reported, not raised."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TypeVar

from tqdm import tqdm

from augment.errors import LLMError

Job = TypeVar("Job")
Result = TypeVar("Result")


def run_calls(call: Callable[[Job], Result], jobs: Sequence[Job], *, concurrency: int, desc: str,
              progress: bool = True) -> Iterator[tuple[Job, Result | None]]:
    """Yield (job, result) as calls finish; result is None when the call failed with LLMError (logged).

    Consumers write to the DB in the calling thread, one short transaction per result, so a crash loses at
    most the calls in flight (and those are in the LLM cache already when they completed).
    """
    with ThreadPoolExecutor(max_workers=max(concurrency, 1)) as pool:
        futures = {pool.submit(call, job): job for job in jobs}
        for future in tqdm(as_completed(futures), total=len(futures), desc=desc, disable=not progress):
            job = futures[future]
            try:
                yield job, future.result()
            except LLMError as exc:
                tqdm.write(f"{desc}: call failed after retries: {exc}")
                yield job, None
