"""The Dashboard's first render in a fresh process (what a lead waits for after the app starts), and a second one.

    python benchmarks/dashboard_render.py [--db bench.db]

Copies the database (both corpora ingested, runs stored), opens a lead's browser session in the copy, then in a new
Python process renders the Dashboard with Streamlit's AppTest: wall time of the first render (page imports and the
long-tail figure included, the figure from the disk cache when an earlier run drew it) and of a rerun. Run it twice:
the first run also draws the figure into .cache/plots. Figures: seconds, 2 cores, whatever else runs.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RENDER = """
import sys, time
from streamlit.testing.v1 import AppTest
at = AppTest.from_string("from streamlit_app import main\\nmain(default='dashboard')", default_timeout=120)
at.query_params["session"] = sys.argv[1]
started = time.perf_counter(); at.run(); first = time.perf_counter() - started
assert not at.exception, at.exception
assert at.title[0].value == "Dashboard", [t.value for t in at.title]
started = time.perf_counter(); at.run(); again = time.perf_counter() - started
print(f"first render {first:.2f} s, rerun {again:.2f} s; imported: "
      + ", ".join(f"{m} {m in sys.modules}" for m in ("pandas", "altair", "matplotlib", "torch")))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="bench.db")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "dashboard.db"
        shutil.copy(args.db, copy)
        url = f"sqlite:///{copy}"
        os.environ["DATABASE_URL"] = url
        sys.path.insert(0, str(ROOT))
        from sqlalchemy import update

        from db.engine import make_engine, make_session_factory, write_transaction
        from db.models import Reviewer
        from db.queries.accounts import create_account, open_web_session

        with write_transaction(make_session_factory(make_engine(url))) as session:
            session.execute(update(Reviewer).where(Reviewer.role == "lead").values(role="annotator"))  # the copy only
            lead = create_account(session, "bench-lead", "lead", "bench-password-123", by=None)
            token = open_web_session(session, lead)
        done = subprocess.run([sys.executable, "-c", RENDER, token], cwd=ROOT, env={**os.environ},
                              capture_output=True, text=True)
        print(done.stdout.strip() or done.stderr[-2000:])


if __name__ == "__main__":
    main()
