"""Review queue at scale: p50/p95 of claim-next, submit-and-decide and the Dashboard's queries.

    python benchmarks/review_queue.py [--tasks 100000] [--samples 200] [--backend sqlite|postgresql|both]

Builds N adjudication tasks (overlap 2), each with a candidate and five judge votes; about 45% of the tasks
are decided (2 verdicts), 25% have one verdict and 30% none, spread over 20 reviewers. Then it times, as the
app does them (one write transaction each): claiming the next task, submitting a verdict that re-decides the
task, and loading the Dashboard's data. PostgreSQL is a throw-away cluster started here (initdb + pg_ctl).
Targets (issue 8): claim-next p95 < 50 ms and submit p95 < 50 ms at 100k tasks; Dashboard data < 1 s.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from db.engine import make_engine, make_session_factory, write_transaction  # noqa: E402
from db.migrate import upgrade_database  # noqa: E402
from db.models import (  # noqa: E402
    Candidate,
    Conversation,
    Dataset,
    JudgeVote,
    Movie,
    Prototype,
    Review,
    Reviewer,
    ReviewTask,
)
from db.queries.dashboard import dashboard_data  # noqa: E402
from db.queries.review import claim_next_task, reviewer_progress, submit_review  # noqa: E402
from tests.pg_server import start_postgres  # noqa: E402

REVIEWERS = 20
CHUNK = 10_000


def chunks(rows: list[dict[str, object]]) -> Iterator[list[dict[str, object]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start:start + CHUNK]


def build(factory: sessionmaker[Session], n_tasks: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    with factory.begin() as s:
        ds = Dataset(name="bench")
        s.add(ds)
        s.flush()
        movie = Movie(dataset_id=ds.id, external_id="m", title="Bench Movie (2000)", meta={})
        conv = Conversation(dataset_id=ds.id, external_id="c", split="train", origin="original")
        s.add_all([movie, conv])
        s.flush()
        proto = Prototype(movie_id=movie.id, conversation_id=conv.id, tier="tail", score=0.5, weights={})
        s.add(proto)
        s.add_all([Reviewer(name=f"r{i}", role="annotator") for i in range(REVIEWERS)])
        s.flush()
        proto_id, movie_id = proto.id, movie.id
        reviewer_ids = list(s.scalars(select(Reviewer.id)))
    turns = [{"role": "seeker", "text": "any scary film?"}, {"role": "recommender", "text": "Bench Movie!"}]
    plan = [rng.random() for _ in range(n_tasks)]
    with factory.begin() as s:
        first = (s.scalar(select(sa.func.max(Candidate.id))) or 0) + 1
        candidates = [{"id": first + i, "prototype_id": proto_id, "movie_id": movie_id, "tier": rng.choice(["body", "tail"]),
                       "generator": "bench", "sample_index": i, "prompt_hash": "0" * 64, "params": {}, "turns": turns,
                       "status": "accepted" if p < 0.45 else "needs_review", "pass_votes": 3, "created_at": now}
                      for i, p in enumerate(plan)]
        for part in chunks(candidates):
            s.execute(insert(Candidate), part)
        votes = [{"candidate_id": first + i, "judge": f"judge-{j}", "valid": True, "passed": j < 3, "semantic": 4,
                  "fluency": 4, "plausibility": 4, "rationale": "ok", "raw": ""} for i in range(n_tasks) for j in range(5)]
        for part in chunks(votes):
            s.execute(insert(JudgeVote), part)
        tasks = [{"id": first + i, "kind": "adjudication", "candidate_id": first + i, "overlap": 2, "required": 2,
                  "verdicts": 2 if p < 0.45 else (1 if p < 0.7 else 0), "tied": False,
                  "decision": "unanimous" if p < 0.45 else "pending", "status": "done" if p < 0.45 else "open",
                  "created_at": now} for i, p in enumerate(plan)]
        for part in chunks(tasks):
            s.execute(insert(ReviewTask), part)
        reviews = []
        for i, p in enumerate(plan):
            given = 2 if p < 0.45 else (1 if p < 0.7 else 0)
            for who in rng.sample(reviewer_ids, given):
                reviews.append({"task_id": first + i, "reviewer_id": who, "verdict": "accept", "reason": "",
                                "source": "streamlit", "created_at": now - timedelta(days=rng.randrange(30))})
        for part in chunks(reviews):
            s.execute(insert(Review), part)
    with factory() as s:  # planner statistics, as autovacuum / ANALYZE would have them on a live database
        s.execute(sa.text("ANALYZE"))
        s.commit()


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000


def timed(n: int, step: Callable[[int], None]) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        step(i)
        out.append(time.perf_counter() - start)
    return out


def measure(factory: sessionmaker[Session], samples: int) -> dict[str, tuple[float, float]]:
    with factory() as s:
        reviewers = list(s.scalars(select(Reviewer).order_by(Reviewer.id)))
    claimed: list[tuple[int, int]] = []

    def claim(i: int) -> None:
        with write_transaction(factory) as s:
            reviewer = reviewers[i % len(reviewers)]
            task = claim_next_task(s, s.get_one(Reviewer, reviewer.id), "adjudication")
            if task is not None:
                claimed.append((task.id, reviewer.id))

    def submit(i: int) -> None:
        task_id, reviewer_id = claimed[i % len(claimed)]
        with write_transaction(factory) as s:
            submit_review(s, task_id, s.get_one(Reviewer, reviewer_id), "reject" if i % 3 else "accept", "bench")

    def page_counts(i: int) -> None:  # what the Review page shows besides the task: the reviewer's progress
        with factory() as s:
            reviewer_progress(s, s.get_one(Reviewer, reviewers[i % len(reviewers)].id), "adjudication")

    def dashboard(_: int) -> None:
        with factory() as s:
            dashboard_data(s)

    claim_times = timed(samples, claim)
    submit_times = timed(samples, submit)
    progress_times = timed(max(5, samples // 4), page_counts)
    dash_times = timed(max(5, samples // 20), dashboard)
    return {"claim-next": percentiles(claim_times), "submit-and-decide": percentiles(submit_times),
            "review progress": percentiles(progress_times), "dashboard data": percentiles(dash_times)}


@contextmanager
def database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    server = start_postgres()
    try:
        engine = sa.create_engine(server.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE bench"))
        engine.dispose()
        yield server.url("bench")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(f"{args.tasks:,} adjudication tasks (5 judge votes each, ~45% decided), {args.samples} samples per step")
    print(f"{'backend':<11} {'step':<18} {'p50 ms':>8} {'p95 ms':>8}")
    for backend in backends:
        with database(backend) as url:
            upgrade_database(url)
            engine = make_engine(url)
            factory = make_session_factory(engine)
            start = time.perf_counter()
            build(factory, args.tasks)
            print(f"{backend:<11} {'(build)':<18} {time.perf_counter() - start:>8.1f} s", flush=True)
            for step, (p50, p95) in measure(factory, args.samples).items():
                print(f"{backend:<11} {step:<18} {p50:>8.1f} {p95:>8.1f}", flush=True)
            engine.dispose()


if __name__ == "__main__":
    from interrupt import run as run_script

    run_script(main)
