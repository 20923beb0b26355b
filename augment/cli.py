"""`lumicrs augment prototypes|generate|filter|judge|route|status`."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from augment.settings import get_settings
from db.cli_support import cli_session_factory, console, emit, make_table, transaction, user_errors

augment_app = typer.Typer(help="LLM prototype-guided augmentation pipeline.", no_args_is_help=True)
Dataset = Annotated[str, typer.Option(help="redial or inspired")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Limit = Annotated[int | None, typer.Option(help="At most N candidates this run (the rest stay for the next).")]


def _show(title: str, payload: dict[str, object], as_json: bool) -> None:
    emit(payload, as_json, make_table(title, ["field", "value"], [[k, v] for k, v in payload.items()]))


def _finish(title: str, summary: Any, as_json: bool, *, answered: int, failed: int) -> None:
    """Print the summary (stdout), then exit 130 when interrupted, 1 when every call failed."""
    _show(title, asdict(summary), as_json)
    if summary.interrupted:
        console.print("interrupted: every finished call is saved; run the same command again to resume "
                      "(nothing that finished is sent again)")
        raise typer.Exit(130)
    if failed and not answered:
        console.print(f"[red]error:[/red] all {failed} calls failed (reasons above)")
        raise typer.Exit(1)


@augment_app.command("prototypes")
@user_errors
def prototypes(dataset: Dataset = "redial", splits: str = "train", support_k: int | None = None,
               cold_start: Annotated[bool, typer.Option(
                   help="Also body/tail movies with no dialogue in SPLITS (prototype chosen by the movie's text).")] = False,
               as_json: JsonFlag = False) -> None:
    """Pick a prototype dialogue + top-K support set for every body/tail movie."""
    from augment.prototypes import select_prototypes_in_short_writes
    from augment.service import weights_from
    settings = get_settings()
    summary = select_prototypes_in_short_writes(cli_session_factory(), dataset, weights_from(settings),
                                                support_k=support_k or settings.support_k, splits=splits.split(","),
                                                cold_start=cold_start, progress=not as_json)
    _show(f"prototypes ({dataset})", asdict(summary), as_json)


@augment_app.command("generate")
@user_errors
def generate(dataset: Dataset = "redial",
             generator: Annotated[str, typer.Option(
                 help="llm (chat models), llm-fewshot (base models), local-writer (the shipped fine-tuned writer, "
                      "no endpoint), baseline-template or baseline-random")] = "llm",
             model: Annotated[str | None, typer.Option(help="Model name on the endpoint.")] = None,
             limit: Annotated[int | None, typer.Option(help="Only the first N prototypes.")] = None,
             as_json: JsonFlag = False) -> None:
    """Generate candidate dialogues (tail 8-10, body 4-5 per movie); cached and resumable."""
    from augment.generate import run_generation
    from augment.service import make_generator
    settings = get_settings()
    factory = cli_session_factory()
    gen = make_generator(settings, generator, factory, model)
    summary = run_generation(factory, dataset, gen, tail_range=settings.tail_dialogues,
                             body_range=settings.body_dialogues, concurrency=settings.concurrency, limit=limit,
                             params={"temperature": settings.temperature}, progress=not as_json)
    _finish(f"generate ({dataset})", summary, as_json, answered=summary.created + summary.unparseable,
            failed=summary.failed)


@augment_app.command("filter")
@user_errors
def filter_(dataset: Dataset = "redial", threshold: float | None = None, limit: Limit = None,
            as_json: JsonFlag = False) -> None:
    """Discard candidates whose SBERT similarity to their prototype exceeds the threshold."""
    from augment.filtering import filter_in_short_writes
    summary = filter_in_short_writes(cli_session_factory(), dataset, threshold or get_settings().duplicate_threshold,
                                     progress=not as_json, limit=limit)
    _show(f"near-duplicate filter ({dataset})", asdict(summary), as_json)


@augment_app.command("judge")
@user_errors
def judge(dataset: Dataset = "redial",
          judges: Annotated[str | None, typer.Option(help="Comma-separated judge model names.")] = None,
          limit: Limit = None, as_json: JsonFlag = False) -> None:
    """Each judge scores semantic consistency, fluency, plausibility and votes pass/fail: the LLM judges on the
    endpoint (AUGMENT_JUDGE_BASE_URL or OPENAI_BASE_URL), else (or with --judges panel) the local trained panel."""
    from augment.judging import judge_candidates, panel_judge_candidates
    from augment.service import make_judges
    settings = get_settings()
    factory = cli_session_factory()
    if judges == "panel" or (judges is None and not (settings.judge_base_url or settings.base_url)):
        from augment.panel import JudgePanel
        panel = JudgePanel.load()
        if not as_json:
            console.print(f"judges: the local panel ({', '.join(panel.names)}; no endpoint set)")
        result = panel_judge_candidates(factory, dataset, panel, progress=not as_json, limit=limit)
        _finish(f"judges ({dataset})", result, as_json, answered=result.votes_cast, failed=0)
        return
    models = make_judges(settings, factory, judges.split(",") if judges else None)
    summary = judge_candidates(factory, dataset, list(models), temperature=settings.judge_temperature,
                               min_score=settings.judge_min_score, concurrency=settings.concurrency,
                               max_tokens=settings.max_tokens,
                               progress=not as_json, limit=limit)
    _finish(f"judges ({dataset})", summary, as_json, answered=summary.votes_cast, failed=summary.failed_calls)


@augment_app.command("train-judges")
@user_errors
def train_judges(dataset: Dataset = "redial", seed: int = 0,
                 out: Annotated[Path | None, typer.Option(help="Folder (default: the shipped augment/judge_panel).")] = None,
                 limit: Annotated[int | None, typer.Option(help="At most this many train dialogues.")] = None,
                 as_json: JsonFlag = False) -> None:
    """Train the local judge panel (five small judges on MiniLM embeddings) from the train dialogues."""
    from augment.panel import PANEL_DIR
    from augment.panel_train import train_command
    meta = train_command(dataset, seed, out or PANEL_DIR, limit, progress=not as_json)
    _show("judge panel", {j["name"]: f"held-out AUC {j['heldout_auc']:.3f}, threshold {j['threshold']:.3f}"
                          for j in meta["judges"]}, as_json)


@augment_app.command("route")
@user_errors
def route(dataset: Dataset = "redial", limit: Limit = None,
          policy: Annotated[str | None, typer.Option(
              help="votes: 4-5 passes auto-accept, 2-3 review, 0-1 discard (the paper). posterior: the judge model "
                   "fitted on the reviewers' verdicts, cut at --precision (AUGMENT_ROUTE_POLICY).")] = None,
          precision: Annotated[float | None, typer.Option(
              help="posterior policy: the share of auto-accepted (and of discarded) candidates the reviewers must "
                   "have agreed with on their decided candidates (AUGMENT_ROUTE_PRECISION, 0.95).")] = None,
          audit: Annotated[float | None, typer.Option(
              help="posterior policy: share of sure candidates sent to review anyway (AUGMENT_ROUTE_AUDIT).")] = None,
          as_json: JsonFlag = False) -> None:
    """Route judged candidates: auto-accept, human review queue, or discard."""
    from augment.routing import describe_route, route_candidates
    settings = get_settings()
    with transaction() as session:
        summary = route_candidates(session, dataset, len(settings.judges), accept_min=settings.accept_min_votes,
                                   review_min=settings.review_min_votes, overlap=settings.review_overlap, limit=limit,
                                   policy=policy or settings.route_policy,
                                   precision=settings.route_precision if precision is None else precision,
                                   audit=settings.route_audit if audit is None else audit)
    cuts = {} if summary.rule is None else {"stated_precision": summary.rule.precision} | {
        f"{side}_{key}": value for side, cut in (("accept", summary.rule.accept), ("discard", summary.rule.discard))
        for key, value in (("at", cut.at), ("precision", cut.precision), ("tasks", cut.tasks))}
    _show(f"routing ({dataset}, {summary.policy} policy)",
          {**summary.routed, "waiting_for_votes": summary.waiting_for_votes, "sent_to_audit": summary.audited,
           "human_decided": summary.decided, **cuts}, as_json)
    if not as_json:
        for line in describe_route(summary):
            console.print(line)


@augment_app.command("rate")
@user_errors
def rate(judge: Annotated[str, typer.Option(help="Judge model name on the endpoint.")] = "judge-1",
         limit: Annotated[int | None, typer.Option(help="At most N responses.")] = None,
         as_json: JsonFlag = False) -> None:
    """LLM judge scores queued responses 1-5 on the five rubrics (compare with humans on the Dashboard)."""
    from augment.rating import rate_responses
    from augment.service import make_judges
    settings = get_settings()
    factory = cli_session_factory()
    (model,) = make_judges(settings, factory, [judge])
    summary = rate_responses(factory, model, limit=limit, concurrency=settings.concurrency, max_tokens=settings.max_tokens,
                             progress=not as_json)
    _finish("rubric rating", summary, as_json, answered=summary.rated + summary.invalid, failed=summary.failed_calls)


@augment_app.command("multilabel")
@user_errors
def multilabel(dataset: Dataset = "redial",
               scorer: Annotated[str, typer.Option(
                   help="Relevance scorer: a model on the endpoint, or local-kg (offline).")] = "judge-1",
               top_k: Annotated[int, typer.Option(help="Retrieved candidates per turn.")] = 50,
               limit: Annotated[int | None, typer.Option(help="At most N turns.")] = None,
               as_json: JsonFlag = False) -> None:
    """Retriever (top-K by SBERT) + relevance 0-4 per candidate: multi-label data for two-stage training. The scorer is
    a model on the endpoint, or `local-kg` (offline, from the item KG; not the paper's LLM scorer)."""
    from augment.multilabel import label_turns
    from augment.relevance_local import LOCAL_SCORER, label_turns_locally
    from augment.service import make_judges
    settings = get_settings()
    factory = cli_session_factory()
    if scorer == LOCAL_SCORER:
        summary = label_turns_locally(factory, dataset, top_k=top_k, limit=limit, progress=not as_json)
    else:
        (model,) = make_judges(settings, factory, [scorer])
        summary = label_turns(factory, dataset, model, top_k=top_k, limit=limit, concurrency=settings.concurrency,
                              max_tokens=settings.max_tokens, progress=not as_json)
    _finish(f"multi-label relevance ({dataset})", summary, as_json, answered=summary.labelled + summary.invalid,
            failed=summary.failed_calls)


@augment_app.command("status")
@user_errors
def status(dataset: Dataset = "redial", as_json: JsonFlag = False) -> None:
    """Candidates per pipeline status."""
    from db.queries.candidates import status_counts
    with transaction() as session:
        counts = status_counts(session, dataset)
    _show(f"candidates ({dataset})", counts, as_json)


@user_errors
def train_writer(config: Annotated[Path, typer.Option("--config", help="YAML writer config.")],
                 force: Annotated[bool, typer.Option(help="Replace a run of this name still marked running.")] = False,
                 replace: Annotated[bool, typer.Option(
                     help="Overwrite a finished run of this name trained on another config.")] = False,
                 quiet: bool = False) -> None:
    """Fine-tune the dialogue writer (LoRA on the packaged Gemma 3 270M) on the train split; writes the adapter."""
    from augment.service import weights_from
    from augment.writer import WriterConfig
    from augment.writer_train import train_writer as train
    from db.config_files import read_config
    result = train(read_config(config, WriterConfig), cli_session_factory(), weights_from(get_settings()),
                   progress=not quiet, command=f"lumicrs train-writer --config {config}", force=force,
                   replace=replace)
    _show(f"writer {result.name} ({result.device})", {**{k: round(v, 4) for k, v in result.metrics.items()},
                                                      "adapter": result.adapter, "adapter_bytes": result.adapter_bytes,
                                                      "data_sha256": result.data_sha256}, False)


def register(app: typer.Typer) -> None:
    app.add_typer(augment_app, name="augment")
    app.command("train-writer")(train_writer)
