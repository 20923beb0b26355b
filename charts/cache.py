"""The long-tail figure as PNG, drawn once per corpus state and kept on disk, so a fresh app process shows it
without importing matplotlib (about 2 s of a Dashboard's first render on 2 cores)."""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

from db.queries.longtail import LongTailSummary


def plot_cache_dir() -> Path:
    return Path(os.environ.get("LUMICRS_CACHE_DIR", ".cache")) / "plots"


def longtail_png(counts: tuple[int, ...], summary: LongTailSummary, directory: Path | None = None) -> bytes:
    """Keyed by sha256 of the counts and the summary (tiers, thresholds, source): a changed corpus draws anew."""
    key = hashlib.sha256(repr((sorted(counts), summary)).encode()).hexdigest()[:24]
    path = (directory or plot_cache_dir()) / f"longtail-{key}.png"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    import matplotlib.pyplot as plt

    from charts.longtail import longtail_figure
    figure = longtail_figure(list(counts), summary)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    png = buffer.getvalue()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        partial.write_bytes(png)
        partial.replace(path)  # two processes drawing at once each write whole files; the last one wins
    except OSError:
        pass  # a read-only cache only costs the redraw
    return png
