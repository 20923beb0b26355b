"""Dashboard: long-tail plot, acceptance by tier, review throughput, rating agreement, training runs."""
from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy import select

from annotator.agreement import agreement_table, judge_verdict_table, krippendorff_alpha_nominal
from annotator.ui_common import require_identity, transaction
from calibration.judge_estimates import estimate_judges
from charts.cache import longtail_png
from db.errors import NotFound
from db.models import Dataset
from db.queries.candidates import judged_candidates
from db.queries.dashboard import dashboard_data
from db.queries.longtail import longtail_summary, movie_mention_counts
from db.queries.runs import list_runs, run_lineage, run_metrics


def stacked_bars(x: str, y: str, color: str) -> dict[str, object]:
    """A Vega-Lite stacked bar chart of long-format rows: st.bar_chart's look without importing Altair (about a
    second of the Dashboard's first render)."""
    return {"mark": {"type": "bar", "tooltip": True},
            "encoding": {"x": {"field": x, "type": "nominal"}, "y": {"field": y, "type": "quantitative"},
                         "color": {"field": color, "type": "nominal"}}}


def _longtail(dataset: str) -> None:
    with transaction() as session:
        try:
            summary = longtail_summary(session, dataset)
            counts = list(movie_mention_counts(session, dataset).values())
        except NotFound as exc:
            st.warning(str(exc))
            return
    st.image(longtail_png(tuple(counts), summary))
    st.dataframe(pd.DataFrame([{"tier": t.tier, "titles": t.titles, "% titles": round(100 * t.title_share, 1),
                                "mentions": t.mentions, "% mentions": round(100 * t.mention_share, 1)}
                               for t in summary.tiers]), hide_index=True)


def rate_with_count(rate: float, n: float) -> str:
    """'0.750 of 4'; '-' when nothing was counted: a rate always shows how many it is taken over."""
    return "-" if not n else f"{rate:.3f} of {int(n)}"


def _interval(low: float, high: float) -> str:
    return f"[{low:.2f}, {high:.2f}]"


def _judges_by_the_model(dataset: str) -> None:
    """The Dawid-Skene estimates over every judged candidate of the dataset (what routing weighs the judges by)."""
    with transaction() as session:
        judged = judged_candidates(session, dataset)
    decided = sum(c.verdict is not None for c in judged)
    if not judged:
        st.info(f"No judged candidate in {dataset} yet.")
        return
    panel = estimate_judges([c.votes for c in judged], [c.verdict for c in judged])
    st.caption(f"Estimated by the judge model (Dawid-Skene, the one `augment route --policy posterior` uses) over all "
               f"{panel.candidates} judged candidates of {dataset}, {decided} of them decided by a reviewer and the "
               f"rest as unknown; estimated approve rate {panel.prior:.2f}. kappa: the agreement the model implies "
               f"between the judge and the reviewers over all candidates. 95% intervals: bootstrap over candidates. "
               f"It assumes the judges err independently given the truth; judges that share their mistakes look "
               f"better here than they are.")
    if decided == 0:
        st.warning("No reviewer verdict yet: these estimates come from the votes alone (the judges' majority).")
    if panel.cap_message:
        st.warning(panel.cap_message[0].upper() + panel.cap_message[1:] + ".")
    st.dataframe(pd.DataFrame([{"judge": e.judge, "kappa": round(e.kappa, 3), "95% CI": _interval(*e.kappa_ci),
                                "sensitivity": round(e.sensitivity, 3), "sensitivity CI": _interval(*e.sensitivity_ci),
                                "specificity": round(e.specificity, 3), "specificity CI": _interval(*e.specificity_ci)}
                               for e in panel.judges]), hide_index=True, key="judges_by_model")
    for e in panel.judges:
        if not e.kappa_ci[0] > 0:
            st.warning(f"{e.judge} is no better than chance by the judge model on {panel.candidates} candidates "
                       f"(kappa {e.kappa:.2f}, 95% CI {_interval(*e.kappa_ci)}).")


def _judges_against_reviewers(pairs: list[tuple[str, bool, bool]], dataset: str | None) -> None:
    st.header("Judges against the reviewers")
    if dataset is not None:
        _judges_by_the_model(dataset)
    table = judge_verdict_table(pairs)
    if not table:
        st.info("No judged candidate has been decided by a reviewer yet: each verdict becomes a label for the judges.")
        return
    st.subheader("On the reviewed candidates only")
    st.caption("Counted over the candidates the reviewers decided (approve = accept or edit) that the judge voted on "
               "validly, all datasets. A selected sample: under the votes policy reviewers see the 2-3-vote band, "
               "where a judge that passes is mostly outvoted, so a good judge can show a kappa near zero or below "
               "here; the table above is the estimate over all candidates. kappa: Cohen's kappa with its 95% "
               "interval (clipped to [-1, 1]); sensitivity: passes among the approved candidates (of how many); "
               "specificity: fails among the rejected (of how many).")
    st.dataframe(pd.DataFrame([{"judge": judge, "candidates": int(row["candidates"]),
                                "kappa": round(row["kappa"], 3),
                                "95% CI": _interval(row["kappa_lo"], row["kappa_hi"]),
                                "sensitivity": rate_with_count(row["sensitivity"], row["approved"]),
                                "specificity": rate_with_count(row["specificity"], row["rejected"])}
                               for judge, row in table.items()]),
                 hide_index=True, key="judges_reviewed_only")


def render() -> None:
    st.title("Dashboard")
    identity = require_identity()
    if identity is None:  # reviewer names and progress are for signed-in users only
        return
    lead = identity[2] == "lead"
    with transaction() as session:
        datasets = list(session.scalars(select(Dataset.name).order_by(Dataset.name)))
        data = dashboard_data(session)
        acceptance, throughput, ratings = data.acceptance, data.throughput, data.ratings
        lineage = run_lineage(session)
        runs = [{"run": r.name, "model": r.model, "status": r.status, "device": r.device,
                 "augmented with": ", ".join(lineage.get(r.id, [])) or "-",
                 **{k: round(v, 4) for k, v in run_metrics(session, r.id, "test").get("test", {}).items()
                    if k in ("recall@10", "tail_recall@10", "coverage@10")}} for r in list_runs(session)]
    st.header("Long tail")
    dataset = None
    if datasets:
        default = datasets.index("redial") if "redial" in datasets else 0
        dataset = st.selectbox("Dataset", datasets, index=default, key="dash_dataset")
        _longtail(dataset)
    else:
        st.info("No corpus yet: run `lumicrs ingest redial`." if lead else "No corpus yet: your lead loads it.")
    st.header("Augmented candidates by tier")
    if acceptance:
        by_tier = pd.DataFrame(acceptance, columns=["tier", "status", "n"])
        st.vega_lite_chart(by_tier, stacked_bars("tier", "n", "status"), width="stretch")
        st.dataframe(by_tier.pivot_table(index="tier", columns="status", values="n", fill_value=0))
    else:
        st.info("No candidates yet: run the `lumicrs augment` pipeline." if lead else
                "No augmented dialogues yet: your lead starts the pipeline that makes them.")
    if data.decisions:
        st.caption("Decided tasks by how they were decided: " + ", ".join(f"{how} {n}" for how, n in data.decisions))
    st.header("Review throughput")
    if throughput:
        st.vega_lite_chart(pd.DataFrame(throughput, columns=["day", "reviewer", "verdicts"]),
                           stacked_bars("day", "verdicts", "reviewer"), width="stretch")
    else:
        st.info("No verdicts yet.")
    st.header("Verdict agreement")
    if data.verdict_units:
        alpha = krippendorff_alpha_nominal(data.verdict_units)
        st.metric("Krippendorff's alpha (nominal, approve vs reject)", f"{alpha:.3f}",
                  help="Over adjudication tasks with two or more verdicts; edit counts as approve.")
        st.caption(f"{len(data.verdict_units)} tasks with 2+ verdicts.")
        if len(data.verdict_units) < 30:
            st.warning(f"Only {len(data.verdict_units)} tasks: alpha on fewer than 30 items is unreliable.")
    else:
        st.info("No task has two verdicts yet" + (" (set AUGMENT_REVIEW_OVERLAP=2 or more to measure agreement)."
                                                  if lead else "."))
    _judges_against_reviewers(data.judge_pairs, dataset)
    st.header("Rating agreement")
    table = agreement_table(ratings)
    if table:
        st.caption("alpha: Krippendorff's alpha (ordinal) among human raters over `units` responses; judge_alpha: "
                   "the same alpha with the LLM judge as a second coder beside each human score (`judge_units` "
                   "pairs); Spearman/Pearson between the LLM judge and the mean human score per response.")
        st.dataframe(pd.DataFrame(table).T.round(3))
    else:
        st.info("No ratings yet.")
    st.header("Training runs")
    if runs:
        st.dataframe(pd.DataFrame(runs), hide_index=True)
    else:
        st.info("No training runs yet: `lumicrs train --config configs/redial_acfl.yaml`." if lead else
                "No training runs yet.")
