"""`lumicrs train`, `evaluate`, `runs`, `evaluate-responses`, `train-responder`, `generate-responses`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from db.cli_support import cli_session_factory, emit, make_table, user_errors

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
TABLE_KEYS = ("recall@1", "recall@10", "recall@50", "ndcg@10", "mrr@10", "head_recall@10", "body_recall@10",
              "tail_recall@10", "coverage@10", "pwp@10", "rw_recall@10", "ild@10")


def _metrics_table(title: str, metrics: dict[str, float]) -> list[list[object]]:
    return [[k, metrics[k]] for k in TABLE_KEYS if k in metrics]


@user_errors
def train(config: Annotated[Path, typer.Option("--config", help="YAML training config.")],
          force: Annotated[bool, typer.Option(help="Replace a run left 'running' by a killed process.")] = False,
          resume: Annotated[bool, typer.Option(help="Continue a killed run from its last epoch checkpoint.")] = False,
          replace: Annotated[bool, typer.Option(
              help="Overwrite a finished run of this name trained on another config.")] = False,
          as_json: JsonFlag = False, quiet: bool = False) -> None:
    """Train a recommender; the run and its metrics are stored in the database. Runs unchanged under
    `torchrun --nproc_per_node N` (DistributedDataParallel; rank 0 writes the database and prints)."""
    import os

    from trainer.config import load_config
    from trainer.run import run
    cfg = load_config(config)
    result = run(cfg, cli_session_factory(), progress=not quiet, force=force, resume=resume,
                 replace=replace)
    if int(os.environ.get("RANK", "0")) != 0:
        return
    payload = {"run_id": result.run_id, "name": result.name, "device": result.device,
               "checkpoint": result.checkpoint, "metrics": result.metrics, "history": result.history}
    emit(payload, as_json, make_table(f"run {result.name} (test, {result.device})", ["metric", "value"],
                                      _metrics_table("test", result.metrics.get("test", {}))))


@user_errors
def evaluate(run_name: Annotated[str, typer.Argument(metavar="RUN", help="Run name or id.")],
             as_json: JsonFlag = False) -> None:
    """Re-evaluate a finished run's checkpoint on its test split."""
    from trainer.run import evaluate_run
    metrics = evaluate_run(run_name, cli_session_factory())
    emit(metrics, as_json, make_table(f"run {run_name} (test)", ["metric", "value"], _metrics_table("test", metrics)))


@user_errors
def runs(as_json: JsonFlag = False) -> None:
    """List training runs with their test Recall@10."""
    from db.queries.runs import list_runs, run_metrics
    with cli_session_factory()() as session:
        rows = [{"id": r.id, "name": r.name, "model": r.model, "status": r.status, "device": r.device,
                 "recall@10": run_metrics(session, r.id, "test").get("test", {}).get("recall@10")}
                for r in list_runs(session)]
    emit(rows, as_json, make_table("training runs", list(rows[0]) if rows else ["id"],
                                   [list(r.values()) for r in rows]))


@user_errors
def evaluate_responses(system: Annotated[str, typer.Option(help="System name of imported responses.")],
                       unicrs: Annotated[bool, typer.Option(
                           "--unicrs", help="Score under UniCRS's processing: consecutive messages merged, one "
                                            "response per merged recommender turn, titles masked as <movie>.")] = False,
                       as_json: JsonFlag = False) -> None:
    """BLEU-2/3, ROUGE-2/L against the human turn each response replaces, and Distinct-2/3/4 (+ UniCRS bleu@n/dist@n)."""
    from db.queries.responses import response_rows
    from trainer.metrics import generation_report
    from trainer.unicrs_processing import unicrs_response_rows
    with cli_session_factory()() as session:
        rows = (unicrs_response_rows if unicrs else response_rows)(session, system)
    if not rows:
        raise ValueError(f"no responses from system {system!r}; queue some with `lumicrs annotate import-responses`")
    report = {"responses": float(len(rows)), **generation_report([h for _, h, _ in rows], [r for _, _, r in rows])}
    emit(report, as_json, make_table(f"responses of {system}", ["metric", "value"], [[k, v] for k, v in report.items()]))


@user_errors
def train_responder(config: Annotated[Path, typer.Option("--config", help="YAML responder config.")],
                    force: Annotated[bool, typer.Option(help="Replace a run left 'running' by a killed process.")] = False,
                    replace: Annotated[bool, typer.Option(
                        help="Overwrite a finished run of this name trained on another config.")] = False,
                    as_json: JsonFlag = False, quiet: bool = False) -> None:
    """Fine-tune the response generator (LoRA on a causal LM) on recommender turns; the run is stored."""
    from trainer.config import ResponderConfig, read_config
    from trainer.conversation_run import train_responder as train_run
    result = train_run(read_config(config, ResponderConfig), cli_session_factory(), progress=not quiet, force=force,
                       replace=replace)
    payload = {"run_id": result.run_id, "name": result.name, "device": result.device, "checkpoint": result.checkpoint,
               "metrics": result.metrics}
    emit(payload, as_json, make_table(f"responder {result.name} ({result.device})", ["metric", "value"],
                                      [[k, v] for k, v in result.metrics.items()]))


@user_errors
def generate_responses(
        run: Annotated[str, typer.Argument(metavar="RUN", help="A train-responder run, or 'retrieval' (the baseline).")],
        dataset: Annotated[str, typer.Option(help="Dataset whose turns to answer.")] = "redial",
        split: Annotated[str, typer.Option(help="Split whose recommender turns to answer.")] = "test",
        item: Annotated[str, typer.Option(help="Movie to recommend: 'predicted' (needs --recommender) or 'oracle'.")]
        = "predicted",
        recommender: Annotated[str | None, typer.Option(help="Recommender run whose top item is used.")] = None,
        limit: Annotated[int | None, typer.Option(min=1, help="A seeded sample of this many turns.")] = None,
        seed: int = 0, overlap: Annotated[int, typer.Option(min=1, help="Human ratings wanted per response.")] = 3,
        system: Annotated[str | None, typer.Option(help="System name (default RUN:ITEM).")] = None,
        batch_size: Annotated[int, typer.Option(min=1)] = 8,
        engine: Annotated[str, typer.Option(help="auto (llama.cpp when installed), llama.cpp or transformers.")]
        = "auto",
        as_json: JsonFlag = False, quiet: bool = False) -> None:
    """Write responses to a split's recommender turns into the responses table (queued for rubric rating)."""
    from trainer.conversation_run import answer_split
    summary = answer_split(cli_session_factory(), run, dataset=dataset, split=split, item=item, recommender=recommender,
                           limit=limit, seed=seed, overlap=overlap, system=system, batch_size=batch_size,
                           progress=not quiet, engine=engine)  # type: ignore[arg-type]  # use_llama_cpp checks it
    emit(summary.__dict__, as_json, make_table(f"responses of {summary.system}", ["field", "value"],
                                               [[k, v] for k, v in summary.__dict__.items()]))


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("evaluate")(evaluate)
    app.command("runs")(runs)
    app.command("evaluate-responses")(evaluate_responses)
    app.command("train-responder")(train_responder)
    app.command("generate-responses")(generate_responses)
