"""Writer throughput: dialogues per minute one at a time and batched, on the same prototypes, with the naming rate.

    DATABASE_URL=sqlite:///bench.db python benchmarks/writer_throughput.py [--prototypes 40] [--batch 32]
        [--llama-streams 16] [--arms one,llama-batched,batched] [--out reports/writer-throughput.json]

Protocol: `--prototypes` body/tail prototypes of ReDial's train split drawn with seed 0 (benchmarks/writer_contexts.py,
the draw benchmarks/writer_quality.py makes), one dialogue each (sample index 0), the shipped writer on llama.cpp
(scripts/setup_llm.sh), temperature 0.7, at most 200 new tokens, up to AUGMENT_WRITER_TRIES tries until one is
accepted (the generator's rule: the recommender names the target and, with --checks, the default since
AUGMENT_WRITER_CHECKS, the try passes the reviewer's first checks; the same seeds in every arm). No call cache: every try is made.
- one: WriterGenerator.generate_counting on llama.cpp, one try at a time (what `augment generate` did before);
- llama-batched: augment.writer_batch.write_many on llama.cpp, `--llama-streams` sequences with continuous batching
  (lm/llama_batch.py);
- batched: augment.writer_batch.write_many on transformers (lm/torch_batch.py: bfloat16 where the CPU has it, `--batch`
  rows per forward, the output layer restricted to the train dialogues' tokens plus each prompt's), the default of
  `augment generate` (AUGMENT_WRITER_BATCH=32; benchmarks/writer_batch_size.py compares sizes).
Wall time from the first call to the last dialogue, the model already loaded (one warm-up call per arm, not timed).
Per arm: dialogues/min, generated tokens/s (every try), tries per dialogue, the share naming the target (95% Wilson),
and between the arms the share of dialogues with the same text (sampling follows the same seeds; float sums in
another order can turn a near-tie). The last line: `dialogues/min: NN batched, MM one at a time; names the target NN%`
(the batched arm's naming rate). Writes --out.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reporting import write_report  # noqa: E402
from writer_contexts import CountingChat, seeded_contexts  # noqa: E402

from augment.settings import get_settings  # noqa: E402
from augment.writer import WriterGenerator, names_target, shipped_config  # noqa: E402
from augment.writer_batch import Written, restrict_vocabulary, write_many  # noqa: E402
from augment.writer_engines import GGUFWriterChat, LocalWriterChat  # noqa: E402
from calibration.judge_model import wilson_interval  # noqa: E402
from db.cli_support import cli_session_factory  # noqa: E402
from lm.llama_batch import Request  # noqa: E402
from lm.llama_engine import llama_cpp_installed  # noqa: E402
from lm.torch_batch import fast_dtype  # noqa: E402


class CountingEngine:
    """Forwards a batch engine and sums the tokens it generated (every try)."""

    def __init__(self, engine: Any) -> None:
        self.engine, self.generated = engine, 0

    def tokenize(self, text: str) -> list[int]:
        return self.engine.tokenize(text)

    def generate(self, requests: Any, **kwargs: Any) -> Any:
        out = self.engine.generate(requests, **kwargs)
        self.generated += sum(o.completion_tokens for attempts in out for o in attempts)
        return out


def summary(written: list[Written], titles: list[str], seconds: float, tokens: int) -> dict[str, object]:
    named = sum(names_target(w.turns, title) for w, title in zip(written, titles, strict=True))
    lo, hi = wilson_interval(named, len(written))
    return {"dialogues": len(written), "seconds": round(seconds, 1),
            "dialogues_per_min": round(60 * len(written) / seconds, 2), "tokens_per_s": round(tokens / seconds, 1),
            "tries_per_dialogue": round(sum(w.samples for w in written) / len(written), 2),
            "names_target": {"rate": round(named / len(written), 4), "ci95": [round(lo, 4), round(hi, 4)]},
            "unparseable": sum(not w.turns for w in written)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prototypes", type=int, default=40)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--llama-streams", type=int, default=16)
    parser.add_argument("--arms", default="one,llama-batched,batched")
    parser.add_argument("--out", default="reports/writer-throughput.json")
    parser.add_argument("--checks", action=argparse.BooleanOptionalAction, default=get_settings().writer_checks,
                        help="tries accepted by the reviewer's first checks (AUGMENT_WRITER_CHECKS, the default); "
                             "--no-checks: by naming the target alone (the rule before)")
    args = parser.parse_args()
    if not llama_cpp_installed():
        sys.exit("writer_throughput: llama.cpp is not installed (bash scripts/setup_llm.sh)")
    settings = get_settings()
    contexts, dialogues = seeded_contexts(cli_session_factory(), args.prototypes)
    titles = [c.target.title for c in contexts]
    chat = GGUFWriterChat()
    generator = WriterGenerator(chat, shipped_config(), settings.temperature, tries=settings.writer_tries,
                                checks=args.checks)
    report: dict[str, object] = {"prototypes": len(contexts), "batch": args.batch, "llama_streams": args.llama_streams,
                                 "tries": generator.tries, "writer_checks": args.checks, "torch_dtype": str(fast_dtype()),
                                 "temperature": settings.temperature, "max_new_tokens": generator.cfg.max_new_tokens}
    texts: dict[str, list[str]] = {}
    for arm in args.arms.split(","):
        writer = generator
        if arm == "one":
            chat.complete_text("Movie: warm-up\n", max_tokens=4, temperature=0.0, seed=0)  # load, not timed
            counter = CountingChat(chat)
            one = WriterGenerator(counter, generator.cfg, settings.temperature, tries=settings.writer_tries,
                                  checks=args.checks)
            before = time.perf_counter()
            written = []
            for i, ctx in enumerate(contexts, 1):
                turns, used = one.generate_counting(ctx, 0)
                written.append(Written(turns, used))
                print(f"\rone: {i}/{len(contexts)}", end="", file=sys.stderr, flush=True)
            seconds = time.perf_counter() - before
            tokens = counter.generated
        elif arm in ("llama-batched", "batched"):
            if arm == "batched":
                hf = LocalWriterChat()
                writer = WriterGenerator(hf, shipped_config(), settings.temperature, tries=settings.writer_tries,
                                         checks=args.checks)
                inner = hf.batched(args.batch)
                restrict_vocabulary(inner, lambda: [t.text for d in dialogues.values() for t in d.turns])
                engine = CountingEngine(inner)
            else:
                engine = CountingEngine(chat.batched(args.llama_streams))
            engine.generate([Request(tuple(engine.tokenize("Movie: warm-up\n")), (0,))], max_tokens=4)  # load
            engine.generated, finished = 0, []
            before = time.perf_counter()
            done = write_many(writer, [(c, 0) for c in contexts], engine, on_done=lambda j, w: (finished.append(j), print(
                f"\r{arm}: {len(finished)}/{len(contexts)}", end="", file=sys.stderr, flush=True)))
            seconds = time.perf_counter() - before
            written = [w if w is not None else Written([], 0) for w in done]
            tokens = engine.generated
        else:
            parser.error(f"--arms: unknown arm {arm!r}; choose from one, llama-batched, batched")
        print(file=sys.stderr)
        report[arm] = summary(written, titles, seconds, tokens)
        texts[arm] = ["\n".join(f"{t.role}: {t.text}" for t in w.turns) for w in written]
        print(f"{arm}: {report[arm]}")
    if "one" in texts and "llama-batched" in texts:  # one model, one seed per try: only the sums' order differs
        same = sum(a == b for a, b in zip(texts["one"], texts["llama-batched"], strict=True))
        report["same_text_one_vs_llama_batched"] = round(same / len(contexts), 4)
        print(f"same dialogue text, one at a time and llama.cpp batched: {same} of {len(contexts)}")
    write_report(Path(args.out), report)
    one, batched = report.get("one", {}), report.get("batched", {})
    rate = (batched or one)["names_target"]["rate"]  # type: ignore[index]
    print(f"dialogues/min: {batched.get('dialogues_per_min', 'n/a')} batched, "  # type: ignore[union-attr]
          f"{one.get('dialogues_per_min', 'n/a')} one at a time; names the target {rate:.0%}")  # type: ignore[union-attr]


if __name__ == "__main__":
    main()
