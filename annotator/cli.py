"""`lumicrs annotate ...` and `lumicrs export`."""
from __future__ import annotations

import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from annotator.settings import get_settings
from db.cli_support import cli_session_factory, console, emit, make_table, transaction, user_errors

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from annotator.labelstudio import LabelStudioAdapter
    from db.models import Reviewer

annotate_app = typer.Typer(help="Human review and rating (Streamlit / Label Studio).", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Kind = Annotated[str, typer.Option(help="adjudication or rating")]


def _show(title: str, payload: dict[str, object], as_json: bool) -> None:
    emit(payload, as_json, make_table(title, ["field", "value"], [[k, v] for k, v in payload.items()]))


@annotate_app.command("sample-responses")
@user_errors
def sample_responses(dataset: str = "redial",
                     n: Annotated[int, typer.Option(help="Responses sampled; the LLM judge rates them all.")] = 1000,
                     human: Annotated[int, typer.Option(help="Of them, queued for people on the Rate page.")] = 200,
                     split: str = "test",
                     overlap: Annotated[int, typer.Option(help="People per queued response.")] = 3, seed: int = 0,
                     as_json: JsonFlag = False) -> None:
    """LumiCRS Sec. 5.3's protocol by default: N recommender turns from the corpus for the LLM judge (`augment rate`),
    HUMAN of them also queued for rubric rating by OVERLAP people each."""
    from db.queries.responses import sample_corpus_responses
    with transaction() as session:
        summary = sample_corpus_responses(session, dataset, n, split=split, overlap=overlap, human=min(human, n),
                                          seed=seed)
    _show("responses queued", asdict(summary), as_json)


@annotate_app.command("import-responses")
@user_errors
def import_responses_cmd(path: Path, dataset: str = "redial", overlap: int = 3, as_json: JsonFlag = False) -> None:
    """Queue a system's responses (JSONL: conversation, turn_position, system, text) for rating."""
    from db.queries.responses import import_responses
    with transaction() as session:
        summary = import_responses(session, dataset, path, overlap)
    _show("responses imported", asdict(summary), as_json)


def _password() -> str:
    """From LUMICRS_PASSWORD or a hidden prompt (asked twice); never a command-line argument."""
    env = os.environ.get("LUMICRS_PASSWORD")
    if env:
        return env
    if not sys.stdin.isatty():
        raise ValueError("no password: set LUMICRS_PASSWORD or run in a terminal to be prompted")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def _lead(session: Session, by: str | None) -> Reviewer | None:
    from db.queries.review import get_reviewer_or_raise
    return get_reviewer_or_raise(session, by) if by else None


@annotate_app.command("add-reviewer")
@user_errors
def add_reviewer(name: str, role: Annotated[str, typer.Option(help="annotator, researcher or lead")] = "annotator",
                 by: Annotated[str | None, typer.Option(help="The lead creating the account (needed once a lead "
                                                              "exists).")] = None,
                 as_json: JsonFlag = False) -> None:
    """Create an account (the first lead needs no --by). Password from LUMICRS_PASSWORD or a prompt."""
    from db.queries.accounts import create_account

    password = _password()
    with transaction() as session:
        reviewer = create_account(session, name, role, password, by=_lead(session, by))
        payload = {"id": reviewer.id, "name": reviewer.name, "role": reviewer.role}
    _show("account", payload, as_json)


@annotate_app.command("accounts")
@user_errors
def accounts(as_json: JsonFlag = False) -> None:
    """Accounts, their roles and whether they can sign in."""
    from sqlalchemy import select

    from db.models import Reviewer as ReviewerRow

    with transaction(write=False) as session:
        rows = [{"name": r.name, "role": r.role, "active": r.active, "can_sign_in": r.password_hash is not None,
                 "labelstudio_email": r.email} for r in session.scalars(select(ReviewerRow).order_by(ReviewerRow.name))]
    emit(rows, as_json, make_table("accounts", ["name", "role", "active", "can_sign_in", "labelstudio_email"],
                                   [list(r.values()) for r in rows]))


@annotate_app.command("set-role")
@user_errors
def set_role_cmd(name: str, role: Annotated[str, typer.Option(help="annotator, researcher or lead")],
                 by: Annotated[str, typer.Option(help="Your name (a lead).")], as_json: JsonFlag = False) -> None:
    """A lead sets someone's role."""
    from db.queries.accounts import set_role
    from db.queries.review import get_reviewer_or_raise

    with transaction() as session:
        reviewer = set_role(session, name, role, by=get_reviewer_or_raise(session, by))
        payload = {"name": reviewer.name, "role": reviewer.role}
    _show("role", payload, as_json)


@annotate_app.command("disable")
@user_errors
def disable(name: str, by: Annotated[str, typer.Option(help="Your name (a lead).")], enable: bool = False,
            as_json: JsonFlag = False) -> None:
    """A lead disables an account (signs it out everywhere); --enable turns it back on."""
    from db.queries.accounts import set_active
    from db.queries.review import get_reviewer_or_raise

    with transaction() as session:
        reviewer = set_active(session, name, enable, by=get_reviewer_or_raise(session, by))
        payload = {"name": reviewer.name, "active": reviewer.active}
    _show("account", payload, as_json)


@annotate_app.command("queue")
@user_errors
def queue(as_json: JsonFlag = False) -> None:
    """Open adjudication / rating tasks and active locks."""
    from db.queries.review import active_locks, open_task_count
    with transaction() as session:
        payload = {"adjudication_open": open_task_count(session, "adjudication"),
                   "rating_open": open_task_count(session, "rating"), "active_locks": active_locks(session)}
    _show("review queue", payload, as_json)


def _adapter_and_project(kind: str) -> tuple[LabelStudioAdapter, str]:
    from annotator.labelstudio import LabelStudioAdapter

    if kind not in ("adjudication", "rating"):
        raise ValueError("--kind must be adjudication or rating")
    settings = get_settings()
    if not settings.api_key.get_secret_value():
        raise ValueError("set LABELSTUDIO_URL and LABELSTUDIO_API_KEY (Account & Settings > Access token)")
    project = settings.adjudication_project if kind == "adjudication" else settings.rating_project
    return LabelStudioAdapter(settings.url, settings.api_key.get_secret_value(), timeout=settings.timeout_seconds), project


@annotate_app.command("push")
@user_errors
def push(kind: Kind = "adjudication", batch_size: Annotated[int | None, typer.Option(
        help="Tasks per import request (default LABELSTUDIO_BATCH_SIZE).")] = None, as_json: JsonFlag = False) -> None:
    """Send open tasks to Label Studio (judges' votes / LLM ratings as predictions). Exactly once across crashes;
    Ctrl+C stops after the batch in flight."""
    from annotator.sync import push_tasks
    from db.cli_support import deferred_interrupt
    from db.locks import exclusive
    adapter, project = _adapter_and_project(kind)
    settings = get_settings()
    with deferred_interrupt() as stop, exclusive(f"labelstudio-sync:{kind}"):  # a second push waits, then finds
        summary = push_tasks(cli_session_factory(), adapter, kind, project,  # every task already there
                             batch_size=batch_size or settings.batch_size, progress=not as_json,
                             settle_seconds=settings.timeout_seconds, stop=stop)
    if summary.interrupted:
        console.print(f"interrupted: {summary.pushed} tasks pushed and recorded; run the same command again to push "
                      "the rest")
        raise typer.Exit(130)
    _show(f"pushed to Label Studio ({project})", {
        "pushed": summary.pushed, "reconciled": summary.reconciled, "already_duplicated": summary.already_duplicated,
        "duplicates_removed": summary.duplicates_removed, "duplicates_kept": summary.duplicates_kept,
        "deleted_in_labelstudio_pushed_again": summary.deleted_repushed,
        "deleted_in_labelstudio_after_decided": [f"task {t}: decided; not pushed again"
                                                 for t in summary.deleted_decided],
        "bad_task_data": summary.bad_tasks, "not_pushed_by_this_app": summary.not_ours}, as_json)


@annotate_app.command("pull")
@user_errors
def pull(kind: Kind = "adjudication", as_json: JsonFlag = False) -> None:
    """Bring Label Studio annotations back as verdicts / ratings; deleted or cancelled ones are retracted."""
    from annotator.sync import pull_annotations
    from db.locks import exclusive
    adapter, project = _adapter_and_project(kind)
    with exclusive(f"labelstudio-sync:{kind}"):  # never makes the project while a push is making it
        summary = pull_annotations(cli_session_factory(), adapter, kind, project)
    held = [f"{email}: {n} held until a lead runs `lumicrs annotate link NAME --email {email} --by LEAD`"
            for email, n in summary.held.items()]
    _show(f"pulled from Label Studio ({project})", {
        "pulled": summary.pulled, "unchanged": summary.unchanged, "retracted": summary.retracted,
        "from_copies": summary.from_copies, "invalid": summary.invalid, "unknown_annotators": held,
        "disabled_accounts_kept_as_pulled": summary.disabled, "bad_task_data": summary.bad_tasks,
        "not_pushed_by_this_app": [f"Label Studio task {t}: ignored" for t in summary.unknown_tasks],
        "needs_app_reviewer": [f"task {t}: tied; the deciding verdict comes from the app's Review page"
                               for t in summary.needs_app_reviewer]}, as_json)


@annotate_app.command("link")
@user_errors
def link(name: str, email: Annotated[str, typer.Option(help="The reviewer's Label Studio account email.")],
         by: Annotated[str, typer.Option(help="Your reviewer name (must be a lead).")], as_json: JsonFlag = False) -> None:
    """Link a reviewer to their Label Studio account: their annotations there become their verdicts here."""
    from db.queries.review import get_reviewer_or_raise, link_email
    with transaction() as session:
        reviewer = link_email(session, name, email, get_reviewer_or_raise(session, by))
        payload = {"name": reviewer.name, "email": reviewer.email}
    _show("linked", payload, as_json)


@user_errors
def export(name: Annotated[str, typer.Option(help="Export name; each run adds a version.")],
           by: Annotated[str, typer.Option(help="Your reviewer name (must be a lead).")],
           dataset: str = "redial",
           out: Annotated[Path | None, typer.Option(help="Output folder (default LUMICRS_EXPORT_DIR).")] = None,
           generator: Annotated[list[str] | None, typer.Option(help="Only candidates of this generator (repeatable).")] = None,
           allow_empty: Annotated[bool, typer.Option(help="Write a version even with no approved dialogue.")] = False,
           as_json: JsonFlag = False) -> None:
    """Export approved augmented dialogues as versioned JSONL + parquet with provenance and sha256."""
    from annotator.export import export_approved, export_lock
    from db.queries.review import get_reviewer_or_raise

    with export_lock(name), transaction() as session:
        lead = get_reviewer_or_raise(session, by)
        record = export_approved(session, dataset, name, lead, out, generators=tuple(generator or ()),
                                 allow_empty=allow_empty)
        payload = {"name": record.name, "version": record.version, "rows": record.n_rows, "sha256": record.sha256,
                   "path": record.path, **record.params}
        if record.params.get("identical_to_version"):
            payload["note"] = f"identical to v{record.params['identical_to_version']}: nothing changed since"
    _show("export", payload, as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(annotate_app, name="annotate")
    app.command("export")(export)
