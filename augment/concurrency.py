"""Run LLM calls on a thread pool with a progress bar (stderr); Ctrl+C stops the batch cleanly.

First Ctrl+C: calls not yet started are dropped, calls in flight are cancelled (they return within a moment), the
results that already arrived are still handed to the consumer (and committed by it), and `interrupted` is set so
the command prints its summary and exits 130. A second Ctrl+C raises KeyboardInterrupt at once.
A failed call (LLMError, after the client's retries) is reported on stderr and counted; LLMFatal (bad key, unknown
model) stops the batch and is raised, since every other call would fail the same way.
"""
from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tqdm import tqdm

from augment.errors import CallCancelled, LLMError, LLMFatal
from augment.llm import cancel_calls_in_flight

STOP_GRACE_SECONDS = 10  # how long a stopped batch waits for its cancelled calls to return

Job = TypeVar("Job")
Result = TypeVar("Result")


@dataclass
class BatchState:
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    interrupted: bool = False


class CallBatch(Generic[Job, Result]):
    """Iterate to get (job, result) as calls finish; result is None when the call failed."""

    def __init__(self, call: Callable[[Job], Result], jobs: Sequence[Job], *, concurrency: int, desc: str,
                 progress: bool = True) -> None:
        self.call, self.jobs, self.concurrency, self.desc, self.progress = call, list(jobs), concurrency, desc, progress
        self.state = BatchState()
        self._stop = threading.Event()

    @property
    def interrupted(self) -> bool:
        return self.state.interrupted

    def stop(self) -> None:
        """Ctrl+C (or a caller) asks the batch to stop: drop queued calls, cancel calls in flight."""
        self.state.interrupted = True
        self._stop.set()
        cancel_calls_in_flight()

    def __iter__(self) -> Iterator[tuple[Job, Result | None]]:
        previous = self._install_sigint()
        try:
            yield from self._run()
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def _install_sigint(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return None

        def on_sigint(signum: int, frame: Any) -> None:
            if self._stop.is_set():
                raise KeyboardInterrupt
            print(f"\n{self.desc}: stopping (calls in flight are cancelled; Ctrl+C again to quit at once)",
                  file=sys.stderr, flush=True)
            self.stop()

        return signal.signal(signal.SIGINT, on_sigint)

    def _run(self) -> Iterator[tuple[Job, Result | None]]:
        pool = ThreadPoolExecutor(max_workers=max(self.concurrency, 1))
        futures: dict[Future[Result], Job] = {pool.submit(self._call_unless_stopped, job): job for job in self.jobs}
        pending = set(futures)
        bar = tqdm(total=len(futures), desc=self.desc, disable=not self.progress, file=sys.stderr)
        try:
            while pending and not self._stop.is_set():
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    bar.update()
                    yield from self._outcome(future, futures[future])
            if pending:  # stopped: drop what has not started, wait briefly for the cancelled calls in flight
                for future in pending:
                    future.cancel()
                deadline = time.monotonic() + STOP_GRACE_SECONDS
                while pending and time.monotonic() < deadline:
                    cancel_calls_in_flight()  # again: a call a worker began while we were stopping is cancelled too
                    finished, pending = wait(pending, timeout=0.2)
                    for future in finished:
                        if not future.cancelled():
                            yield from self._outcome(future, futures[future])
        finally:
            bar.close()
            pool.shutdown(wait=False, cancel_futures=True)

    def _call_unless_stopped(self, job: Job) -> Result:
        if self._stop.is_set():
            raise CallCancelled(f"{self.desc}: stopped before this call began")
        return self.call(job)

    def _outcome(self, future: Future[Result], job: Job) -> Iterator[tuple[Job, Result | None]]:
        try:
            result = future.result()
        except CallCancelled:
            self.state.cancelled += 1
            return
        except LLMFatal:
            self.stop()
            self.state.interrupted = False
            raise
        except LLMError as exc:
            self.state.failed += 1
            tqdm.write(f"{self.desc}: call failed: {exc}", file=sys.stderr)
            yield job, None
            return
        self.state.succeeded += 1
        yield job, result


def run_calls(call: Callable[[Job], Result], jobs: Sequence[Job], *, concurrency: int, desc: str,
              progress: bool = True) -> CallBatch[Job, Result]:
    return CallBatch(call, jobs, concurrency=concurrency, desc=desc, progress=progress)
