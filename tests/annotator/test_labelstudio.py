"""Push/pull against a real Label Studio server started from its own venv."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from annotator.errors import LabelStudioError
from annotator.labelstudio import LabelStudioAdapter, label_config
from annotator.sync import pull_annotations, push_tasks
from db.engine import write_transaction
from db.models import Candidate, Rating, Review, Reviewer, ReviewTask
from db.queries.review import get_or_create_reviewer, link_email
from db.rubrics import RUBRIC_KEYS
from lumicrs_cli import app
from tests.factories import make_rating_queue, make_review_queue
from tests.labelstudio_server import LabelStudioServer, labelstudio_available, start_labelstudio

pytestmark = pytest.mark.slow
LEAD_EMAIL = "lead@example.com"  # the account whose token the tests use


@pytest.fixture(scope="module")
def labelstudio() -> Iterator[LabelStudioServer]:
    if not labelstudio_available():
        if os.environ.get("CI"):
            pytest.fail("Label Studio venv missing under CI (scripts/setup_labelstudio.sh)")
        pytest.skip("no .venv-labelstudio")
    server = start_labelstudio()
    yield server
    server.stop()


def choice(name: str, value: str) -> dict[str, object]:
    return {"from_name": name, "to_name": "dialogue", "type": "choices", "value": {"choices": [value]}}


def text(name: str, value: str) -> dict[str, object]:
    return {"from_name": name, "to_name": "dialogue", "type": "textarea", "value": {"text": [value]}}


def linked(factory: sessionmaker[Session], **emails: str) -> dict[str, int]:
    """Reviewers linked to Label Studio accounts by a lead (name -> reviewer id)."""
    with write_transaction(factory) as s:
        lead = get_or_create_reviewer(s, "boss", "lead")
        ids = {}
        for name, email in emails.items():
            get_or_create_reviewer(s, name)
            ids[name] = link_email(s, name, email, lead).id
        return ids


def ls_ids(factory: sessionmaker[Session]) -> dict[int, int]:
    with factory() as s:
        return {k: v for k, v in s.execute(select(ReviewTask.id, ReviewTask.labelstudio_task_id)).all()}


def count_in_project(adapter: LabelStudioAdapter, project: str) -> dict[int, int]:
    held = adapter.tasks_by_lumicrs_id(adapter.ensure_project(project, ""))
    return {ours: len(ids) for ours, ids in held.items()}


def test_adjudication_round_trip(labelstudio: LabelStudioServer, session_factory: sessionmaker[Session],
                                 database_url: str) -> None:
    adapter = LabelStudioAdapter(labelstudio.url, labelstudio.token)
    suffix = database_url.split(":")[0]
    project = f"adjudication {suffix}"
    with session_factory() as s:
        t1, t2 = make_review_queue(s, n=2, overlap=2)
    assert push_tasks(session_factory, adapter, "adjudication", project).pushed == 2
    again = push_tasks(session_factory, adapter, "adjudication", project)
    assert (again.pushed, again.reconciled) == (0, 0)  # nothing left to push
    ids = ls_ids(session_factory)
    una, ulf, stranger = (f"{n}-{suffix}@example.com" for n in ("una", "ulf", "stranger"))
    u1, u2, u3 = adapter.create_user(una), adapter.create_user(ulf), adapter.create_user(stranger)
    reviewers = linked(session_factory, ann=una, bob=ulf.upper())  # emails match case-insensitively
    adapter.annotate(ids[t1], [choice("verdict", "accept")], completed_by=u1)
    adapter.annotate(ids[t1], [choice("verdict", "accept")], completed_by=u2)
    adapter.annotate(ids[t2], [choice("verdict", "edit"), text("reason", "tighter"),
                               text("edited", "Seeker: scary?\nRecommender: Tail Film (2011)!")], completed_by=u1)
    adapter.annotate(ids[t2], [choice("verdict", "reject")], completed_by=u2)  # no reason: invalid
    adapter.annotate(ids[t2], [choice("verdict", "reject"), text("reason", "meh")], completed_by=u3)  # not linked
    for pulled in (3, 0):  # pulling twice changes nothing, and the second pull says so
        summary = pull_annotations(session_factory, adapter, "adjudication", project)
        assert (summary.pulled, summary.unchanged) == (pulled, 3 - pulled)
        assert len(summary.invalid) == 1 and "reason is required" in summary.invalid[0]
        assert summary.held == {stranger: 1} and summary.retracted == 0
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Review)) == 3
        assert {r.source for r in s.scalars(select(Review))} == {"labelstudio"}
        assert {r.reviewer_id for r in s.scalars(select(Review))} == {reviewers["ann"], reviewers["bob"]}
        assert set(s.scalars(select(Reviewer.name))) == {"boss", "ann", "bob"}  # no reviewer named by email
        edit = s.scalar(select(Review).where(Review.verdict == "edit"))
        assert edit is not None and edit.edited_turns == [{"role": "seeker", "text": "scary?"},
                                                           {"role": "recommender", "text": "Tail Film (2011)!"}]
        task1 = s.get_one(ReviewTask, t1)
        assert task1.status == "done" and s.get_one(Candidate, task1.candidate_id).status == "accepted"
    linked(session_factory, carl=stranger)  # once linked, the held annotation is applied
    assert pull_annotations(session_factory, adapter, "adjudication", project).held == {}
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Review)) == 4


def test_deleted_and_cancelled_annotations_retract_their_verdicts(labelstudio: LabelStudioServer, database_url: str,
                                                                   session_factory: sessionmaker[Session]) -> None:
    adapter = LabelStudioAdapter(labelstudio.url, labelstudio.token)
    suffix = database_url.split(":")[0]
    project = f"retractions {suffix}"
    with session_factory() as s:
        t1, t2 = make_review_queue(s, n=2, overlap=1)
    push_tasks(session_factory, adapter, "adjudication", project)
    ids = ls_ids(session_factory)
    emails = [f"{n}-{suffix}@example.com" for n in ("dee", "eve")]
    dee, eve = (adapter.create_user(e) for e in emails)
    linked(session_factory, dee=emails[0], eve=emails[1])
    first = adapter.annotate(ids[t1], [choice("verdict", "accept")], completed_by=dee)
    adapter.annotate(ids[t2], [choice("verdict", "reject"), text("reason", "bland")], completed_by=eve)
    pull_annotations(session_factory, adapter, "adjudication", project)
    with session_factory() as s:
        assert s.get_one(Candidate, s.get_one(ReviewTask, t1).candidate_id).status == "accepted"
    adapter.delete_annotation(first)
    adapter.annotate(ids[t2], [], completed_by=eve, was_cancelled=True)  # eve skips t2 now
    summary = pull_annotations(session_factory, adapter, "adjudication", project)
    assert summary.retracted >= 1
    with session_factory() as s:
        task1 = s.get_one(ReviewTask, t1)
        assert (task1.status, task1.verdicts) == ("open", 0)
        assert s.get_one(Candidate, task1.candidate_id).status == "needs_review"  # re-decided by the same rule
        reviews = {(r.task_id, r.reviewer_id) for r in s.scalars(select(Review))}
        assert all(task != t1 for task, _ in reviews)


def test_push_is_exactly_once_when_the_server_dies_before_replying(session_factory: sessionmaker[Session],
                                                                  database_url: str) -> None:
    """SIGKILL Label Studio after the import request was sent and before its reply is read; restart; push again."""
    if not labelstudio_available():
        pytest.skip("no .venv-labelstudio")
    server = start_labelstudio()
    try:
        with session_factory() as s:
            make_review_queue(s, n=12, overlap=1)
        project = f"crash {database_url.split(':')[0]}"
        killed: list[bool] = []

        def kill_on_import_reply(response: httpx.Response) -> None:
            if response.request.method == "POST" and "/import" in response.request.url.path and not killed:
                killed.append(True)
                server.kill()
                raise httpx.RemoteProtocolError("server died before its reply was read", request=response.request)

        doomed = LabelStudioAdapter(server.url, server.token,
                                    httpx_client=httpx.Client(event_hooks={"response": [kill_on_import_reply]}))
        with pytest.raises(LabelStudioError, match="unreachable during import tasks"):
            push_tasks(session_factory, doomed, "adjudication", project, batch_size=5)
        assert killed and all(v is None for v in ls_ids(session_factory).values())  # nothing recorded here
        server = server.restart()
        adapter = LabelStudioAdapter(server.url, server.token)
        assert sum(count_in_project(adapter, project).values()) == 5  # the first batch did arrive
        summary = push_tasks(session_factory, adapter, "adjudication", project, batch_size=5)
        assert (summary.reconciled, summary.pushed) == (5, 7)
        counts = count_in_project(adapter, project)
        assert sorted(counts) == sorted(ls_ids(session_factory)) and set(counts.values()) == {1}  # each exactly once
        assert None not in ls_ids(session_factory).values()
    finally:
        server.stop()


def impatient_setup(labelstudio: LabelStudioServer, session_factory: sessionmaker[Session], project: str, *,
                    tasks: int, import_timeout: float) -> tuple[str, LabelStudioAdapter, LabelStudioAdapter]:
    """`tasks` open adjudication tasks, the project made, a patient adapter and one whose imports time out."""
    with session_factory() as s:
        make_review_queue(s, n=tasks, overlap=1)
    adapter = LabelStudioAdapter(labelstudio.url, labelstudio.token)
    adapter.ensure_project(project, label_config("adjudication"))
    return project, adapter, LabelStudioAdapter(labelstudio.url, labelstudio.token, import_timeout=import_timeout)


def test_push_after_a_client_timeout_is_exactly_once(labelstudio: LabelStudioServer, database_url: str,
                                                    session_factory: sessionmaker[Session]) -> None:
    project, adapter, impatient = impatient_setup(labelstudio, session_factory, f"timeout {database_url.split(':')[0]}",
                                                  tasks=40, import_timeout=0.001)
    with pytest.raises(LabelStudioError, match="unreachable"):
        push_tasks(session_factory, impatient, "adjudication", project, batch_size=40)
    # at once, while Label Studio may still be importing: the pending batch is waited for, never sent again
    summary = push_tasks(session_factory, adapter, "adjudication", project, batch_size=15, settle_seconds=60)
    assert (summary.reconciled, summary.pushed, summary.duplicates_removed) == (40, 0, [])
    counts = count_in_project(adapter, project)
    assert len(counts) == 40 and set(counts.values()) == {1}


def test_predictions_carry_judge_votes(labelstudio: LabelStudioServer, session_factory: sessionmaker[Session],
                                       database_url: str) -> None:
    adapter = LabelStudioAdapter(labelstudio.url, labelstudio.token)
    project = f"predictions {database_url.split(':')[0]}"
    with session_factory() as s:
        make_review_queue(s, n=1)
    push_tasks(session_factory, adapter, "adjudication", project)
    project_id = adapter.ensure_project(project, "")
    task = next(iter(adapter.client.tasks.list(project=project_id, fields="all")))
    assert task.data["judge_summary"] == "3/5 pass" and "judge-4: fail (invalid output)" in task.data["rationales"]
    predictions = adapter.client.predictions.list(task=task.id)
    assert predictions[0].model_version == "five-judges"
    assert predictions[0].result[0]["value"]["choices"] == ["accept"]


def test_rating_round_trip_and_retraction(labelstudio: LabelStudioServer, session_factory: sessionmaker[Session],
                                          database_url: str) -> None:
    adapter = LabelStudioAdapter(labelstudio.url, labelstudio.token)
    project = f"rating {database_url.split(':')[0]}"
    with session_factory() as s:
        (task,) = make_rating_queue(s, n=1, overlap=1)
    push_tasks(session_factory, adapter, "rating", project)
    ls_id = ls_ids(session_factory)[task]
    assert ls_id is not None
    linked(session_factory, rita=LEAD_EMAIL)
    annotation = adapter.annotate(ls_id, [{"from_name": k, "to_name": "response", "type": "rating",
                                           "value": {"rating": 3}} for k in RUBRIC_KEYS])
    assert pull_annotations(session_factory, adapter, "rating", project).pulled == 1
    with session_factory() as s:
        scores = list(s.scalars(select(Rating.score)))
        assert scores == [3] * len(RUBRIC_KEYS) and s.get_one(ReviewTask, task).status == "done"
    adapter.delete_annotation(annotation)
    assert pull_annotations(session_factory, adapter, "rating", project).retracted == 1
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Rating)) == 0 and s.get_one(ReviewTask, task).status == "open"


def test_unreachable_server_is_one_line_without_the_token(database_url: str, monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    from annotator.settings import get_settings

    adapter = LabelStudioAdapter("http://127.0.0.1:9", "x")
    with pytest.raises(LabelStudioError, match="unreachable"):
        adapter.ensure_project("p", "<View/>")
    monkeypatch.setenv("LABELSTUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LABELSTUDIO_API_KEY", "sekrit-token-123")
    get_settings.cache_clear()
    try:
        for command in (["annotate", "push"], ["annotate", "pull"]):
            result = CliRunner().invoke(app, command)
            assert result.exit_code == 2, result.output
            lines = [line for line in result.output.splitlines() if line.strip()]
            assert len(lines) == 1 and "127.0.0.1:9" in lines[0] and "Traceback" not in result.output
            assert "sekrit" not in result.output
    finally:
        get_settings.cache_clear()


def test_a_push_removes_duplicate_tasks_nobody_annotated(labelstudio: LabelStudioServer,
                                                         session_factory: sessionmaker[Session], database_url: str) -> None:
    """What a slow import the client gave up on leaves behind: copies of our tasks. The next push deletes the copies
    nobody annotated and reports the others."""
    adapter = LabelStudioAdapter(labelstudio.url, labelstudio.token)
    project = f"duplicates {database_url.split(':')[0]}"
    with session_factory() as s:
        t1, t2 = make_review_queue(s, n=2, overlap=1)
    push_tasks(session_factory, adapter, "adjudication", project)
    project_id = adapter.ensure_project(project, label_config("adjudication"))
    ids = ls_ids(session_factory)  # the very data the push sent (signed), imported a second time
    copies = adapter.import_tasks(project_id, [{"data": adapter.client.tasks.get(id=str(ids[t])).data}
                                               for t in (t1, t2)])
    adapter.annotate(copies[1], [choice("verdict", "accept")])
    summary = push_tasks(session_factory, adapter, "adjudication", project)
    assert (summary.already_duplicated, summary.duplicates_removed) == (2, [copies[0]])
    assert len(summary.duplicates_kept) == 1 and f"Label Studio task {copies[1]} repeats" in summary.duplicates_kept[0]
    assert count_in_project(adapter, project) == {t1: 1, t2: 2}
    linked(session_factory, lee=LEAD_EMAIL)  # the copy's annotation is pulled into the task it copies
    pulled = pull_annotations(session_factory, adapter, "adjudication", project)
    assert (pulled.pulled, pulled.from_copies, pulled.unknown_tasks) == (1, 1, [])
    with session_factory() as s:
        assert s.get_one(ReviewTask, t2).status == "done"


def test_two_push_processes_at_once_make_one_project_with_every_task_once(labelstudio: LabelStudioServer,
                                                                         database_url: str,
                                                                         session_factory: sessionmaker[Session]) -> None:
    """Two `lumicrs annotate push` processes started together (the command lock): one project, each task once."""
    import subprocess
    import sys

    with session_factory() as s:
        make_review_queue(s, n=30, overlap=1)
    project = f"two pushes {database_url.split(':')[0]}"
    env = {**os.environ, "DATABASE_URL": database_url, "LABELSTUDIO_URL": labelstudio.url,
           "LABELSTUDIO_API_KEY": labelstudio.token, "LABELSTUDIO_ADJUDICATION_PROJECT": project,
           "LABELSTUDIO_BATCH_SIZE": "4"}
    command = [sys.executable, "-m", "lumicrs_cli", "annotate", "push", "--json"]
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    pushed = sorted(json.loads(out)["pushed"] for out, _ in outputs)
    assert pushed == [0, 30]  # the second waited for the lock, then found every task there
    adapter = LabelStudioAdapter(labelstudio.url, labelstudio.token)
    assert [p.title for p in adapter.client.projects.list()].count(project) == 1
    counts = count_in_project(adapter, project)
    assert sorted(counts) == sorted(ls_ids(session_factory)) and set(counts.values()) == {1}


def invoke(args: list[str], env: dict[str, str]) -> Any:
    """The CLI in this process with these settings (the cached settings read again before and after)."""
    from annotator.settings import get_settings as labelstudio_settings
    from db.settings import get_settings as database_settings

    for clear in (labelstudio_settings.cache_clear, database_settings.cache_clear):
        clear()
    try:
        return CliRunner().invoke(app, args, env=env)
    finally:
        for clear in (labelstudio_settings.cache_clear, database_settings.cache_clear):
            clear()


def cli_env(labelstudio: LabelStudioServer, database_url: str, project: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "LABELSTUDIO_URL": labelstudio.url,
            "LABELSTUDIO_API_KEY": labelstudio.token, "LABELSTUDIO_ADJUDICATION_PROJECT": project, **extra}


def test_a_forged_task_and_bad_task_data_are_named_one_line_each_and_never_adopted_or_pulled(
        labelstudio: LabelStudioServer, database_url: str, session_factory: sessionmaker[Session]) -> None:
    """Made by hand in the project before the first push: a task carrying the id of an app task not pushed yet, one
    whose id is text, one whose id is an object. Push adopts none of them; pull takes none of their annotations."""
    adapter = LabelStudioAdapter(labelstudio.url, labelstudio.token)
    project = f"forged {database_url.split(':')[0]}"
    with session_factory() as s:
        t1, t2 = make_review_queue(s, n=2, overlap=1)
    project_id = adapter.ensure_project(project, label_config("adjudication"))
    shown = {"dialogue": [{"author": "seeker", "text": "hi"}], "target": "x", "tier": "tail", "judge_summary": "",
             "prototype": "", "rationales": ""}  # what the labeling config shows
    forged, text_id, object_id = adapter.import_tasks(project_id, [
        {"data": {**shown, "lumicrs_task_id": t1}}, {"data": {**shown, "lumicrs_task_id": "abc"}},
        {"data": {**shown, "lumicrs_task_id": {"id": t2}}}])
    for ls_id in (forged, text_id, object_id):
        adapter.annotate(ls_id, [choice("verdict", "accept")])
    linked(session_factory, lee=LEAD_EMAIL)
    result = invoke(["annotate", "push", "--json"], cli_env(labelstudio, database_url, project))
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["pushed"], out["reconciled"]) == (2, 0)
    assert out["not_pushed_by_this_app"] == [f"Label Studio task {forged} carries task id {t1} without this "
                                             "database's signature (not pushed by this app): never adopted or pulled"]
    assert out["bad_task_data"] == [f"Label Studio task {text_id}: data.lumicrs_task_id 'abc' is not a task id; skipped",
                                    f"Label Studio task {object_id}: data.lumicrs_task_id \"{{'id': {t2}}}\" is not a "
                                    "task id; skipped"]
    assert forged not in ls_ids(session_factory).values()
    summary = pull_annotations(session_factory, adapter, "adjudication", project)
    assert (summary.pulled, summary.unknown_tasks, len(summary.bad_tasks)) == (0, [forged], 2)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Review)) == 0


def test_a_task_deleted_by_hand_is_pushed_again_once(labelstudio: LabelStudioServer, database_url: str,
                                                     session_factory: sessionmaker[Session]) -> None:
    adapter = LabelStudioAdapter(labelstudio.url, labelstudio.token)
    project = f"deleted {database_url.split(':')[0]}"
    with session_factory() as s:
        t1, t2 = make_review_queue(s, n=2, overlap=1)
    push_tasks(session_factory, adapter, "adjudication", project)
    adapter.delete_task(ls_ids(session_factory)[t1])
    summary = push_tasks(session_factory, adapter, "adjudication", project)
    assert (summary.pushed, summary.deleted_repushed) == (1, [t1])
    assert count_in_project(adapter, project) == {t1: 1, t2: 1}
    assert push_tasks(session_factory, adapter, "adjudication", project).deleted_repushed == []


def test_push_and_pull_at_once_on_a_new_title_make_one_project_and_two_are_an_error(
        labelstudio: LabelStudioServer, database_url: str, session_factory: sessionmaker[Session]) -> None:
    import subprocess
    import sys

    with session_factory() as s:
        make_review_queue(s, n=6, overlap=1)
    project = f"push and pull {database_url.split(':')[0]}"
    env = cli_env(labelstudio, database_url, project)
    runs = [subprocess.Popen([sys.executable, "-m", "lumicrs_cli", "annotate", verb, "--json"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for verb in ("pull", "push")]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    adapter = LabelStudioAdapter(labelstudio.url, labelstudio.token)
    titled = [p.id for p in adapter.client.projects.list() if p.title == project]
    assert len(titled) == 1
    adapter.client.projects.create(title=project, label_config=label_config("adjudication"))  # made by hand
    for verb in ("push", "pull"):
        result = invoke(["annotate", verb], env)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1, result.output
        assert f"2 projects are titled '{project}'" in lines[0] and str(titled[0]) in lines[0]


def test_ctrl_c_during_a_push_is_one_line_every_time_and_the_next_push_finishes_exactly_once(
        labelstudio: LabelStudioServer, database_url: str, session_factory: sessionmaker[Session]) -> None:
    import re
    import signal
    import subprocess
    import sys
    import threading

    with session_factory() as s:
        make_review_queue(s, n=60, overlap=1)
    project = f"ctrl-c {database_url.split(':')[0]}"
    env = cli_env(labelstudio, database_url, project, LABELSTUDIO_BATCH_SIZE="1")
    command = [sys.executable, "-m", "lumicrs_cli", "annotate", "push"]
    # The moments are read off the command's own progress, not a clock, so neither a fast machine (the push done
    # first) nor a slow one (Python itself still starting, where a Ctrl+C is not ours to handle) can miss them:
    # start-up (our packages loading: Python's import log shows the CLI's first import done), the import's bar at 0
    # (projects listed, nothing imported), and mid-import.
    moments = {"start-up": re.compile(r"^import time:.*\| typer$", re.MULTILINE),
               "import begins": re.compile(r"push adjudication:.*\b0/\d+"),
               "mid-import": re.compile(r"push adjudication:.*\b([2-9]|\d\d+)/\d+")}
    for moment, reached in moments.items():
        started = [sys.executable, "-X", "importtime", *command[1:]] if moment == "start-up" else command
        run = subprocess.Popen(started, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        err_parts: list[str] = []
        seen = threading.Event()

        def read_stderr(stream=run.stderr, parts=err_parts, pattern=reached, flag=seen) -> None:
            while chunk := stream.read(1):
                parts.append(chunk)
                if chunk in "]\r\n" and pattern.search("".join(parts[-400:])):
                    flag.set()

        reader = threading.Thread(target=read_stderr, daemon=True)
        reader.start()
        assert seen.wait(timeout=120), (moment, "".join(err_parts))
        run.send_signal(signal.SIGINT)
        out = run.stdout.read()
        run.wait(timeout=120)
        reader.join(timeout=30)
        err = "".join(err_parts)
        said = [line for line in (out + err).replace("\r", "\n").splitlines()  # the progress bar and the import log aside
                if line.strip() and "push adjudication" not in line and not line.startswith("import time:")]
        assert run.returncode == 130, (moment, run.returncode, out, err)
        assert "Traceback" not in out + err and len(said) == 1, (moment, out, err)
    final = subprocess.run(command + ["--json"], env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    adapter = LabelStudioAdapter(labelstudio.url, labelstudio.token)
    counts = count_in_project(adapter, project)
    assert sorted(counts) == sorted(ls_ids(session_factory)) and set(counts.values()) == {1}


def test_a_push_waiting_on_the_lock_behind_a_timed_out_import_imports_nothing_twice(
        labelstudio: LabelStudioServer, database_url: str, session_factory: sessionmaker[Session]) -> None:
    """Two pushes at once under the command's lock: the first gives up on its import (client timeout) while Label
    Studio goes on storing it; the second, waiting on the lock, starts at once after it and must not import again."""
    import threading

    from db.locks import exclusive

    project, adapter, impatient = impatient_setup(labelstudio, session_factory,
                                                  f"held import {database_url.split(':')[0]}", tasks=150,
                                                  import_timeout=0.05)
    first_has_lock = threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        with exclusive("labelstudio-sync:adjudication", database_url):
            first_has_lock.set()
            try:
                push_tasks(session_factory, impatient, "adjudication", project, batch_size=150)
            except LabelStudioError as exc:
                outcome["first"] = str(exc)

    def second() -> None:
        first_has_lock.wait(30)
        with exclusive("labelstudio-sync:adjudication", database_url):
            outcome["second"] = push_tasks(session_factory, adapter, "adjudication", project, batch_size=50,
                                           settle_seconds=60)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert "unreachable during import tasks" in str(outcome.get("first")), outcome
    summary = outcome["second"]
    assert (summary.reconciled, summary.pushed, summary.duplicates_removed) == (150, 0, [])  # type: ignore[attr-defined]
    counts = count_in_project(adapter, project)
    assert sorted(counts) == sorted(ls_ids(session_factory)) and set(counts.values()) == {1}
