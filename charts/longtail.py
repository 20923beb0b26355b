"""Long-tail plot: mentions per title (rank order, log scale) coloured by tier."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from db.queries.longtail import LongTailSummary, TierThresholds, tier_of  # noqa: E402

TIER_COLOURS = {"head": "#d62728", "body": "#ff7f0e", "tail": "#1f77b4"}


def longtail_figure(counts: list[int], summary: LongTailSummary) -> Figure:
    ranked = sorted((c for c in counts if c > 0), reverse=True)
    fig, (curve, bars) = plt.subplots(1, 2, figsize=(11, 4))
    tiers = [tier_of(c, summary.thresholds) for c in ranked]
    for tier, colour in TIER_COLOURS.items():  # one filled area per tier (a bar per title took seconds)
        ranks = [i for i, t in enumerate(tiers) if t == tier]
        if ranks:
            span = range(ranks[0], ranks[-1] + 2)
            heights = [ranked[min(i, len(ranked) - 1)] for i in span]
            curve.fill_between(span, heights, 0.8, step="post", color=colour, label=tier, linewidth=0)
    curve.set_yscale("log")
    curve.set_xlim(0, max(len(ranked), 1))
    curve.legend()
    curve.set(xlabel="title rank", ylabel="mentions (log)", title=f"{summary.dataset}: long tail ({summary.source})")
    names = [t.tier for t in summary.tiers]
    width = 0.38
    xs = range(len(names))
    bars.bar([x - width / 2 for x in xs], [t.title_share * 100 for t in summary.tiers], width, label="% of titles",
             color="#4d4d4d")
    bars.bar([x + width / 2 for x in xs], [t.mention_share * 100 for t in summary.tiers], width,
             label="% of mentions", color="#b3b3b3")
    bars.set_xticks(list(xs), names)
    bars.set(ylabel="%", title=_threshold_caption(summary.thresholds))
    bars.legend()
    fig.tight_layout()
    return fig


def _threshold_caption(t: TierThresholds) -> str:
    return f"head >= {t.head_min}, tail <= {t.tail_max} mentions"


def save_longtail_plot(counts: list[int], summary: LongTailSummary, path: Path) -> Path:
    fig = longtail_figure(counts, summary)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
