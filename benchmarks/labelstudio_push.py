"""Push N adjudication tasks to a real Label Studio server in batches: wall time and peak memory of our side.

    python benchmarks/labelstudio_push.py [--tasks 5000] [--batch-size 200]

Starts a throw-away Label Studio from .venv-labelstudio and a temporary SQLite database, builds N open
adjudication tasks (candidate + five judge votes each), pushes them (`annotator.sync.push_tasks`, the code the
CLI runs), then pushes again to show the reconcile step imports nothing. Peak memory is this process's maximum
resident set size (ru_maxrss), which includes the Python interpreter and libraries (measured before the push too).
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotator.labelstudio import LabelStudioAdapter  # noqa: E402
from annotator.sync import push_tasks  # noqa: E402
from db.engine import make_engine, make_session_factory  # noqa: E402
from db.migrate import upgrade_database  # noqa: E402
from tests.factories import make_review_queue  # noqa: E402
from tests.labelstudio_server import start_labelstudio  # noqa: E402


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=200)
    args = parser.parse_args()
    server = start_labelstudio()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/push.db"
            upgrade_database(url)
            factory = make_session_factory(make_engine(url))
            with factory() as session:
                make_review_queue(session, n=args.tasks, overlap=2)
            adapter = LabelStudioAdapter(server.url, server.token)
            before = rss_mib()
            start = time.perf_counter()
            summary = push_tasks(factory, adapter, "adjudication", "bench", batch_size=args.batch_size, progress=True)
            push_secs = time.perf_counter() - start
            start = time.perf_counter()
            again = push_tasks(factory, adapter, "adjudication", "bench", batch_size=args.batch_size)
            repush_secs = time.perf_counter() - start
            held = adapter.tasks_by_lumicrs_id(adapter.ensure_project("bench", ""))
            print(f"tasks {args.tasks}, batch size {args.batch_size}: pushed {summary.pushed} in {push_secs:.1f} s "
                  f"({summary.pushed / push_secs:.0f} tasks/s); peak RSS {rss_mib():.0f} MiB (before push {before:.0f} MiB)")
            print(f"second push: pushed {again.pushed}, reconciled {again.reconciled}, {repush_secs:.1f} s; "
                  f"Label Studio holds {sum(len(v) for v in held.values())} tasks for {len(held)} of ours")
    finally:
        server.stop()


if __name__ == "__main__":
    from interrupt import run as run_script

    run_script(main)
