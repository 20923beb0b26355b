"""The batched writer's rate at each batch size, in steady state: every batch full, one try per dialogue.

    DATABASE_URL=sqlite:///bench.db python benchmarks/writer_batch_size.py [--dialogues 256] [--batches 32,128,32,128]
        [--out reports/writer-batch-size.json]

Protocol: `--dialogues` seeded body/tail train prototypes of ReDial (benchmarks/writer_contexts.py, the draw of
benchmarks/writer_throughput.py), one dialogue each (sample index 0), the shipped writer on transformers
(lm/torch_batch.py, bfloat16 where the CPU has it, the output layer restricted to the train dialogues' tokens),
temperature 0.7, at most 200 new tokens, **one try** per dialogue (no retry, no reviewer check: what is timed is the
decoder, not the acceptance rule), no call cache. Each size runs in a fresh process, in the order given (sizes
alternate by default, so a machine that slows down or speeds up over the run shows as a spread, not as a winner): the
model is warmed up on the next prototypes of the draw (one full batch, not timed), then the clock runs from the first
call to the last dialogue. A long run such as
benchmarks/augmentation_lift.py keeps its batches full, so this is its rate of tries; a short run (writer_throughput)
pays for a part-empty last batch. Per run: seconds, tries (= dialogues) per minute, generated tokens/s; per size their mean. The
last line: `tries/min: NN at batch A, MM at batch B`. Writes --out.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reporting import write_report  # noqa: E402
from writer_contexts import seeded_contexts  # noqa: E402
from writer_throughput import CountingEngine  # noqa: E402

from augment.settings import get_settings  # noqa: E402
from augment.writer import WriterGenerator, shipped_config  # noqa: E402
from augment.writer_batch import restrict_vocabulary, write_many  # noqa: E402
from augment.writer_engines import LocalWriterChat  # noqa: E402
from db.cli_support import cli_session_factory  # noqa: E402
from lm.torch_batch import fast_dtype  # noqa: E402


def measure(size: int, n: int) -> dict[str, float]:
    """One batch size in this process: warm-up on a full batch of the draw's next prototypes, then `n` timed."""
    settings = get_settings()
    contexts, dialogues = seeded_contexts(cli_session_factory(), n + size)
    chat = LocalWriterChat()
    writer = WriterGenerator(chat, shipped_config(), settings.temperature, tries=1, checks=False)
    engine = CountingEngine(chat.batched(size))
    restrict_vocabulary(engine.engine, lambda: [t.text for d in dialogues.values() for t in d.turns])
    write_many(writer, [(c, 0) for c in contexts[n:n + size]], engine)  # not timed
    engine.generated, finished = 0, 0

    def done(_: int, __: object) -> None:
        nonlocal finished
        finished += 1
        print(f"\rbatch {size}: {finished}/{n}", end="", file=sys.stderr, flush=True)

    before = time.perf_counter()
    write_many(writer, [(c, 0) for c in contexts[:n]], engine, on_done=done)
    seconds = time.perf_counter() - before
    print(file=sys.stderr)
    return {"seconds": round(seconds, 1), "tries_per_min": round(60 * n / seconds, 1),
            "tokens_per_s": round(engine.generated / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dialogues", type=int, default=256)
    parser.add_argument("--batches", default="32,128,32,128", help="batch sizes in run order, comma-separated")
    parser.add_argument("--out", default="reports/writer-batch-size.json")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # a size in a fresh process
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one, args.dialogues)))
        return
    settings = get_settings()
    report: dict[str, object] = {"dialogues": args.dialogues, "tries": 1, "torch_dtype": str(fast_dtype()),
                                 "temperature": settings.temperature, "max_new_tokens": shipped_config().max_new_tokens}
    runs: dict[str, list[dict[str, float]]] = {}
    for size in (int(b) for b in args.batches.split(",")):
        # each size in its own process: one process's kernels and allocator, warmed on one batch shape
        out = subprocess.run([sys.executable, __file__, "--one", str(size), "--dialogues", str(args.dialogues)],
                             check=True, stdout=subprocess.PIPE, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        runs.setdefault(f"batch {size}", []).append(row)
        print(f"batch {size}: {row}", flush=True)
    means = {k: round(sum(r["tries_per_min"] for r in v) / len(v), 1) for k, v in runs.items()}
    write_report(Path(args.out), {**report, "runs": runs, "mean_tries_per_min": means})
    print("tries/min: " + ", ".join(f"{v} at {k}" for k, v in means.items()))


if __name__ == "__main__":
    from interrupt import run as run_script

    run_script(main)
