"""`lumicrs stats longtail`: the corpus's head / body / tail shares, and the long-tail figure as PNG."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from db.cli_support import emit, make_table, transaction, user_errors
from db.settings import get_settings

stats_app = typer.Typer(help="Corpus statistics.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@stats_app.command("longtail")
@user_errors
def stats_longtail(
    dataset: Annotated[str, typer.Option(help="redial or inspired")] = "redial",
    counts: Annotated[str, typer.Option(
        help="corpus: mentions in ingested dialogues; catalog: the movie list's count")] = "corpus",
    head_min: Annotated[int | None, typer.Option(help="Head: at least this many mentions.")] = None,
    tail_max: Annotated[int | None, typer.Option(help="Tail: at most this many mentions.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG of the long-tail curve here.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Head / body / tail share of titles and of mentions."""
    from charts.longtail import save_longtail_plot
    from db.queries.longtail import CountSource, TierThresholds, longtail_summary, movie_mention_counts
    if counts not in ("corpus", "catalog"):
        raise ValueError("--counts must be corpus or catalog")
    settings = get_settings()
    thresholds = TierThresholds(head_min or settings.head_min_mentions, tail_max or settings.tail_max_mentions)
    source: CountSource = "corpus" if counts == "corpus" else "catalog"
    with transaction() as session:
        summary = longtail_summary(session, dataset, source, thresholds)
        per_movie = list(movie_mention_counts(session, dataset, source).values()) if plot else []
    if plot:
        save_longtail_plot(per_movie, summary, plot)
    rows = [[t.tier, t.titles, f"{t.title_share:.1%}", t.mentions, f"{t.mention_share:.1%}"] for t in summary.tiers]
    emit(summary.as_dict(), as_json, make_table(
        f"{dataset} long tail ({source}; {summary.total_titles} titles, {summary.total_mentions} mentions)",
        ["tier", "titles", "% titles", "mentions", "% mentions"], rows))
