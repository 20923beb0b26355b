"""The long-tail PNG kept on disk per corpus state: a fresh process shows it without importing matplotlib."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy.orm import Session

from charts.cache import longtail_png
from db.queries.longtail import longtail_summary, movie_mention_counts
from tests.factories import make_conversation, make_dataset, make_movie

FRESH_PROCESS = """
import sys
from pathlib import Path
from charts.cache import longtail_png
from db.queries.longtail import LongTailSummary, TierShare, TierThresholds
summary = eval(sys.argv[1])
sys.stdout.write(longtail_png(eval(sys.argv[2]), summary, Path(sys.argv[3])).hex())
print("\\nmatplotlib imported:", "matplotlib" in sys.modules)
"""


def test_the_figure_is_drawn_once_per_corpus_state(session: Session, tmp_path: Path) -> None:
    ds = make_dataset(session, "toy")
    movies = [make_movie(session, ds, str(i)) for i in range(3)]
    for i in range(7):
        make_conversation(session, ds, f"c{i}", [("seeker", "hi", [movies[0]] + ([movies[1]] if i < 2 else []))])
    session.commit()
    summary = longtail_summary(session, "toy")
    counts = tuple(movie_mention_counts(session, "toy").values())
    png = longtail_png(counts, summary, tmp_path)
    assert png.startswith(b"\x89PNG") and len(list(tmp_path.glob("longtail-*.png"))) == 1
    again = subprocess.run([sys.executable, "-c", FRESH_PROCESS, repr(summary), repr(counts), str(tmp_path)],
                           capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2])
    hex_png, imported = again.stdout.splitlines()
    assert bytes.fromhex(hex_png) == png and imported == "matplotlib imported: False"
    longtail_png((*counts, 1), summary, tmp_path)  # another corpus state: drawn and kept beside the first
    assert len(list(tmp_path.glob("longtail-*.png"))) == 2 and not list(tmp_path.glob("*.partial"))
