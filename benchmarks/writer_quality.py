"""Writer quality: the fine-tuned dialogue writer beside the base model's few-shot output and the static template.

    DATABASE_URL=sqlite:///bench.db python benchmarks/writer_quality.py [--prototypes 200] [--arms writer,base,template]

Protocol: `--prototypes` body/tail prototypes of ReDial's train split (as `augment prototypes` picks them; made here
when the database has none), drawn with seed 0; one dialogue per prototype and arm (sample index 0, temperature 0.7,
at most 200 new tokens), each arm through its real generator class:
- writer: `--generator local-writer` (augment/writer_adapter on the packaged Gemma 3 270M; `--engine` llama.cpp, the
  default where installed, or transformers), up to `--tries` samples until one is accepted (the generator's own
  rule: the recommender names the target and, with --checks, the default, the try passes the reviewer checks below
  but the people half of the request check; the share named at the first sample is reported beside it);
- base: `--generator llm-fewshot`'s prompt on the same base model without the adapter (same engine);
- template: `--generator baseline-template`.
Figures per arm: share of dialogues whose recommender names the target by title; share that pass the near-duplicate
filter (MiniLM similarity to the prototype <= 0.85); distinct-2/3 over the arm's dialogues; mean MiniLM similarity to
the real train dialogues that mention the same movie; mean turns; unparseable replies; dialogues per minute and
generated tokens per second (every sample, retried ones included; 2 cores, whatever else runs). 95% Wilson
intervals for the shares.
Reviewer checks per arm (augment/writer_checks.py, rules that need no model, each a share of the arm's dialogues with
its Wilson interval): role errors, self-contradiction about the target, a repeated turn, the target's title with a
wrong year, and whether the seeker's request before the recommendation agrees with the target's genres or people
(from the catalog metadata) or contradicts them.
--dataset inspired draws INSPIRED's train prototypes; --cold-start draws catalog movies no train dialogue mentions
(their cold-start prototypes); --batched writes the writer arm as `augment generate` now does (AUGMENT_WRITER_BATCH
at once on transformers).
Writes --out (reports/writer-quality.json).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reporting import write_report
from sqlalchemy import select  # noqa: E402
from writer_contexts import CountingChat, seeded_contexts

from augment.generators import FewShotGenerator, Generator, TemplateBaseline  # noqa: E402
from augment.prototypes import dialogue_text  # noqa: E402
from augment.settings import get_settings  # noqa: E402
from augment.writer import WriterGenerator, names_target, shipped_config  # noqa: E402
from augment.writer_batch import restrict_vocabulary, write_many  # noqa: E402
from augment.writer_checks import (  # noqa: E402
    people_of,
    repeats,
    request_agreement,
    role_error,
    self_contradiction,
    wrong_year,
)
from augment.writer_engines import Engine, LocalWriterChat, writer_chat  # noqa: E402
from calibration.judge_model import wilson_interval  # noqa: E402
from db.cli_support import cli_session_factory  # noqa: E402
from db.models import Movie  # noqa: E402
from db.types import Turn  # noqa: E402
from lm.embeddings import encode_texts  # noqa: E402
from trainer.metrics import distinct_n  # noqa: E402

DATASET = "redial"


def make_arm(name: str, engine: Engine, tries: int, checks: bool) -> tuple[Generator, CountingChat | None]:
    if name == "writer":
        cfg = shipped_config()
        chat = CountingChat(writer_chat(engine, cfg.output))
        return WriterGenerator(chat, cfg, temperature=0.7, tries=tries, checks=checks), chat
    if name == "base":
        chat = CountingChat(writer_chat(engine, None))
        return FewShotGenerator(chat, temperature=0.7, max_tokens=200), chat  # type: ignore[arg-type]
    if name == "template":
        return TemplateBaseline(), None
    raise SystemExit(f"unknown arm {name!r}: writer, base or template")


def write_batched(generator: WriterGenerator, contexts: list[Any], dialogues: dict[Any, Any],
                  batch: int) -> tuple[list[list[Turn]], list[int]]:
    """The writer arm as `augment generate` writes now: `batch` at once on transformers (lm/torch_batch.py), the
    output layer restricted to the train dialogues' tokens; no cache."""
    chat = LocalWriterChat(generator.cfg.output)
    writer = WriterGenerator(chat, generator.cfg, temperature=0.7, tries=generator.tries, checks=generator.checks)
    engine = chat.batched(batch)
    restrict_vocabulary(engine, lambda: [t.text for d in dialogues.values() for t in d.turns])
    done = write_many(writer, [(c, 0) for c in contexts], engine)
    return [w.turns if w else [] for w in done], [w.samples if w else writer.tries for w in done]


def reviewer_checks(written: list[list[Turn]], contexts: list[Any],
                    facts: dict[int, tuple[int | None, list[str]]]) -> dict[str, object]:
    """augment/writer_checks.py's rules over the arm's dialogues (unparseable ones counted as failing nothing but
    left in the denominator), each a share with its Wilson interval."""
    n = len(written)
    rows = [(turns, ctx.target, *facts.get(ctx.target.id, (None, []))) for turns, ctx in zip(written, contexts)]
    request = [request_agreement(t, m.title, m.genres, people) if t else "silent" for t, m, _, people in rows]
    return {"role_error": share(sum(role_error(t) for t, *_ in rows), n),
            "self_contradiction": share(sum(self_contradiction(t, m.title) for t, m, *_ in rows), n),
            "repeats_a_turn": share(sum(repeats(t) for t, *_ in rows), n),
            "wrong_year": share(sum(wrong_year(t, m.title, year) for t, m, year, _ in rows), n),
            "request_agrees": share(request.count("agrees"), n),
            "request_contradicts": share(request.count("contradicts"), n),
            "targets_with_genres": sum(bool(m.genres) for _, m, *_ in rows),
            "targets_with_people": sum(bool(people) for *_, people in rows)}


def share(hits: int, n: int) -> dict[str, float]:
    lo, hi = wilson_interval(hits, n)
    return {"share": hits / n if n else float("nan"), "lo": lo, "hi": hi, "n": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prototypes", type=int, default=200)
    parser.add_argument("--arms", default="writer,base,template")
    parser.add_argument("--out", default="reports/writer-quality.json")
    parser.add_argument("--engine", default="auto", choices=["auto", "llama.cpp", "transformers"])
    parser.add_argument("--tries", type=int, default=get_settings().writer_tries)
    parser.add_argument("--checks", action=argparse.BooleanOptionalAction, default=get_settings().writer_checks,
                        help="The writer samples on until a try passes the reviewer's first checks (AUGMENT_WRITER_CHECKS);"
                             " --no-checks: until the recommender names the target (the rule before).")
    parser.add_argument("--dataset", default="redial", help="redial or inspired (its train split's prototypes)")
    parser.add_argument("--cold-start", action="store_true",
                        help="Catalog movies no train dialogue mentions (their cold-start prototypes) as targets.")
    parser.add_argument("--batched", action="store_true",
                        help="Write the writer arm as `augment generate` does now: AUGMENT_WRITER_BATCH at once.")
    args = parser.parse_args()
    factory = cli_session_factory()
    settings = get_settings()
    contexts, dialogues = seeded_contexts(factory, args.prototypes, args.dataset, args.cold_start)
    with factory() as session:
        facts = {m.id: (m.year, people_of(m.meta or {})) for m in session.scalars(
            select(Movie).where(Movie.id.in_({c.target.id for c in contexts})))}
    about: dict[int, list[str]] = {}
    for dialogue in dialogues.values():
        for movie in {m for t in dialogue.turns for m in t.movie_ids}:
            about.setdefault(movie, []).append(dialogue_text(dialogue))
    report: dict[str, dict[str, object]] = {}
    for arm in args.arms.split(","):
        generator, chat = make_arm(arm, args.engine, args.tries, args.checks)
        written: list[list[Turn]] = []
        samples: list[int] = []
        unparseable = 0
        tokens = 0
        started = time.perf_counter()
        if args.batched and isinstance(generator, WriterGenerator):
            written, samples = write_batched(generator, contexts, dialogues, settings.writer_batch)
            contexts_left: list[Any] = []
            chat = None  # written on transformers, batched: its name below, its tokens not counted
        else:
            contexts_left = contexts
        for i, ctx in enumerate(contexts_left, 1):
            try:
                if isinstance(generator, WriterGenerator):
                    turns, used = generator.generate_counting(ctx, 0)
                else:
                    turns, used = generator.generate(ctx, 0), 1
                written.append(turns)
                samples.append(used)
            except ValueError:
                written.append([])
                samples.append(getattr(generator, "tries", 1))
                unparseable += 1
            print(f"\r{arm}: {i}/{len(contexts)}", end="", file=sys.stderr, flush=True)
        seconds = time.perf_counter() - started
        print(file=sys.stderr)
        tokens = chat.generated if chat is not None else 0
        texts = ["\n".join(f"{t.role}: {t.text}" for t in turns) for turns in written]
        kept = [i for i, turns in enumerate(written) if turns]
        named = sum(names_target(written[i], contexts[i].target.title) for i in kept)
        first_try = sum(names_target(written[i], contexts[i].target.title) and samples[i] == 1 for i in kept)
        emb = encode_texts([texts[i] for i in kept], progress=False, cache_dir=None)
        proto = encode_texts(["\n".join(f"{t.role}: {t.text}" for t in contexts[i].prototype) for i in kept],
                             progress=False)
        passes = int((np.einsum("nd,nd->n", emb, proto) <= settings.duplicate_threshold).sum()) if kept else 0
        real = [float((encode_texts(about[contexts[i].target.id], progress=False) @ emb[k]).mean())
                for k, i in enumerate(kept) if contexts[i].target.id in about]
        checks = reviewer_checks(written, contexts, facts)
        report[arm] = {"dialogues": len(contexts), "unparseable": unparseable, "checks": checks,
                       "names_target": share(named, len(contexts)),
                       "names_target_first_sample": share(first_try, len(contexts)),
                       "samples_per_dialogue": float(np.mean(samples)),
                       "writer_checks": bool(getattr(generator, "checks", False)), "tries": getattr(generator, "tries", 1),
                       "engine": f"local-writer-hf, {settings.writer_batch} at once" if args.batched and arm == "writer"
                       else getattr(chat, "name", None),
                       "passes_filter": share(passes, len(contexts)),
                       "distinct_2": distinct_n([texts[i] for i in kept], 2),
                       "distinct_3": distinct_n([texts[i] for i in kept], 3),
                       "similarity_to_real": float(np.mean(real)) if real else float("nan"),
                       "mean_turns": float(np.mean([len(written[i]) for i in kept])) if kept else 0.0,
                       "dialogues_per_minute": len(contexts) / seconds * 60,
                       "generated_tokens_per_second": tokens / seconds if tokens else None, "seconds": seconds,
                       "written": [{"target": contexts[i].target.title, "tier": contexts[i].tier, "text": texts[i],
                                    "names_target": bool(written[i]) and names_target(written[i],
                                                                                      contexts[i].target.title)}
                                   for i in range(len(contexts))]}
        print(json.dumps({arm: {k: v for k, v in report[arm].items() if k != "written"}}), flush=True)
    write_report(Path(args.out), report)


if __name__ == "__main__":
    main()
