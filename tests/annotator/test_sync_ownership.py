"""What push and pull take as ours, fast (the in-process stand-in for our Label Studio adapter; our database is
real, on both backends): only signed tasks are adopted or pulled, bad task data is one line per task, a task deleted
by hand is pushed again, a copy's annotations count once per annotator, a disabled account's verdicts stay as
pulled, an import whose reply was lost is waited for instead of imported twice, and Ctrl+C stops between batches."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from annotator.errors import LabelStudioError
from annotator.labelstudio import ExportedAnnotation
from annotator.sync import pull_annotations, push_tasks
from annotator.sync_marks import BATCH, SIGNATURE, TASK_ID, mark, sign
from db.engine import write_transaction
from db.models import LabelStudioImport, Review, Reviewer, ReviewTask
from db.queries.accounts import set_active
from db.queries.identity import sync_secret
from db.queries.review import get_or_create_reviewer
from tests.annotator.test_sync_rules import PROJECT, FakeLabelStudio, setup, signed, status_of
from tests.factories import make_review_queue


def push(factory: sessionmaker[Session], fake: FakeLabelStudio, **kwargs: Any) -> Any:
    return push_tasks(factory, fake, PROJECT, PROJECT, **kwargs)  # type: ignore[arg-type]


def pull(factory: sessionmaker[Session], fake: FakeLabelStudio) -> Any:
    return pull_annotations(factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]


def held_by(fake: FakeLabelStudio, task_id: int) -> list[int]:
    return sorted(ls for ls, data in fake.tasks.items() if data.get(TASK_ID) == task_id)


def test_the_signature_binds_the_kind_and_the_task_and_a_forgery_is_named() -> None:
    good = {TASK_ID: 7, SIGNATURE: sign("key", "adjudication", 7)}
    assert mark("key", "adjudication", 1, good) == (7, None)
    for data in ({TASK_ID: 8, SIGNATURE: good[SIGNATURE]}, {TASK_ID: 7, SIGNATURE: sign("key", "rating", 7)},
                 {TASK_ID: 7, SIGNATURE: sign("other", "adjudication", 7)}, {TASK_ID: 7}):
        ours, why = mark("key", "adjudication", 1, data)
        assert ours is None and why is not None and "without this database's signature" in why
    assert mark("key", "adjudication", 1, {"text": "x"}) == (None, None)
    assert mark("key", "adjudication", 1, {TASK_ID: "7", SIGNATURE: sign("key", "adjudication", 7)}) == (7, None)


def test_push_never_adopts_a_task_made_by_hand_with_an_unpushed_tasks_id(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        t1, t2 = make_review_queue(s, n=2)
    fake = FakeLabelStudio()
    project = fake.ensure_project(PROJECT, "config")
    forged = fake.import_tasks(project, [{"data": {TASK_ID: t1, "dialogue": "made by hand"}}])[0]
    fake.annotate(forged, "ann@lab.org", "accept")
    summary = push(session_factory, fake)
    assert (summary.pushed, summary.reconciled) == (2, 0)
    assert len(summary.not_ours) == 1 and f"Label Studio task {forged} carries task id {t1}" in summary.not_ours[0]
    assert forged in fake.tasks  # not ours to delete either
    with session_factory() as s:
        assert s.get_one(ReviewTask, t1).labelstudio_task_id not in (None, forged)
    get_linked(session_factory)
    assert pull(session_factory, fake).unknown_tasks == [forged]
    assert status_of(session_factory, t1) == ("open", "needs_review")


def get_linked(factory: sessionmaker[Session]) -> None:
    from db.queries.review import link_email
    with write_transaction(factory) as s:
        lead = get_or_create_reviewer(s, "boss", "lead")
        for name in ("ann", "bob"):
            get_or_create_reviewer(s, name)
            link_email(s, name, f"{name}@lab.org", lead)


@pytest.mark.parametrize("raw", ["abc", {"id": 3}, True, -3, 2.5, None, ""])
def test_a_task_with_an_unreadable_id_is_one_line_and_skipped_by_push_and_pull(
        session_factory: sessionmaker[Session], raw: Any) -> None:
    fake, (t1, t2), ls = setup(session_factory)
    fake.tasks[9999] = {TASK_ID: raw}
    fake.annotate(9999, "ann@lab.org", "accept")
    fake.annotate(ls[t2], "bob@lab.org", "reject", "dull")
    summary = push(session_factory, fake)
    assert len(summary.bad_tasks) == 1 and summary.bad_tasks[0].startswith("Label Studio task 9999: data.lumicrs_task_id")
    assert "\n" not in summary.bad_tasks[0] and summary.bad_tasks[0].endswith("is not a task id; skipped")
    pulled = pull(session_factory, fake)
    assert pulled.bad_tasks == summary.bad_tasks and pulled.pulled == 1  # the rest went on
    assert status_of(session_factory, t2) == ("done", "rejected")


def test_an_open_task_deleted_by_hand_is_pushed_again_and_a_decided_one_is_reported(
        session_factory: sessionmaker[Session]) -> None:
    fake, (t1, t2), ls = setup(session_factory)
    fake.annotate(ls[t2], "bob@lab.org", "reject", "dull")
    assert pull(session_factory, fake).pulled == 1
    fake.delete_task(ls[t1])
    fake.delete_task(ls[t2])
    summary = push(session_factory, fake)
    assert (summary.pushed, summary.deleted_repushed, summary.deleted_decided) == (1, [t1], [t2])
    assert len(held_by(fake, t1)) == 1 and held_by(fake, t2) == []
    again = push(session_factory, fake)
    assert (again.pushed, again.deleted_repushed, again.deleted_decided) == (0, [], [t2])  # still said


def test_a_copys_annotations_are_pulled_into_its_task_once_per_annotator_the_latest_winning(
        session_factory: sessionmaker[Session]) -> None:
    fake, (t1, t2), ls = setup(session_factory, overlap=2)
    copy = 7777
    fake.tasks[copy] = dict(fake.tasks[ls[t1]])  # a copy a lost import reply left (signed: it is ours)
    early, late = datetime(2026, 12, 1, tzinfo=timezone.utc), datetime(2026, 12, 2, tzinfo=timezone.utc)

    def annotate(ls_id: int, email: str, verdict: str, when: datetime, reason: str = "") -> None:
        result = [{"from_name": "verdict", "value": {"choices": [verdict]}}]
        if reason:
            result.append({"from_name": "reason", "value": {"text": [reason]}})
        fake.annotations[(ls_id, email)] = ExportedAnnotation(ls_id, fake.tasks[ls_id], email, result, False, when)

    annotate(ls[t1], "ann@lab.org", "accept", early)
    annotate(copy, "ann@lab.org", "reject", late, "on the copy, later")  # the same person on the copy: one verdict
    annotate(copy, "bob@lab.org", "reject", early, "only on the copy")
    summary = push(session_factory, fake)
    assert summary.duplicates_removed == [] and copy in fake.tasks  # annotated: kept
    pulled = pull(session_factory, fake)
    assert (pulled.pulled, pulled.from_copies, pulled.unknown_tasks) == (2, 2, [])
    with session_factory() as s:
        verdicts = sorted(s.execute(select(Reviewer.name, Review.verdict).join(Reviewer, Reviewer.id == Review.reviewer_id)
                                    .where(Review.task_id == t1)).tuples())
    assert verdicts == [("ann", "reject"), ("bob", "reject")]
    assert status_of(session_factory, t1) == ("done", "rejected")


def test_a_disabled_accounts_verdict_stays_as_pulled_whether_its_annotation_is_changed_cancelled_or_deleted(
        session_factory: sessionmaker[Session]) -> None:
    fake, tasks, ls = setup(session_factory, n=3)
    for task_id in tasks:
        fake.annotate(ls[task_id], "ann@lab.org", "accept")
    assert pull(session_factory, fake).pulled == 3
    with write_transaction(session_factory) as s:
        set_active(s, "ann", False, by=get_or_create_reviewer(s, "boss", "lead"))
    changed, cancelled, deleted = tasks
    fake.annotate(ls[changed], "ann@lab.org", "reject", "changed")
    fake.annotate(ls[cancelled], "ann@lab.org", None, cancelled=True)
    del fake.annotations[(ls[deleted], "ann@lab.org")]
    summary = pull(session_factory, fake)
    assert (summary.retracted, summary.pulled, summary.disabled) == (0, 0, {"ann": 2})
    assert [status_of(session_factory, t) for t in tasks] == [("done", "accepted")] * 3
    with write_transaction(session_factory) as s:  # enabled again: the deletion now retracts, as for anyone
        set_active(s, "ann", True, by=get_or_create_reviewer(s, "boss", "lead"))
    assert pull(session_factory, fake).retracted >= 1
    assert status_of(session_factory, deleted) == ("open", "needs_review")


class SlowImportLabelStudio(FakeLabelStudio):
    """The first import times out on our side but Label Studio stores it `late` listings later (still importing)."""

    def __init__(self, late: int) -> None:
        super().__init__()
        self.late = late
        self.held: list[tuple[int, list[dict[str, Any]]]] = []
        self.listings = 0
        self.imports = 0

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
        self.imports += 1
        if self.imports == 1:
            self.held.append((project_id, tasks))
            raise LabelStudioError("Label Studio at x unreachable during import tasks: ReadTimeout", maybe_done=True)
        return super().import_tasks(project_id, tasks)

    def project_tasks(self, project_id: int) -> list[tuple[int, Any, int]]:
        self.listings += 1
        if self.held and self.listings > self.late:
            for project, tasks in self.held:
                super().import_tasks(project, tasks)
            self.held = []
        return super().project_tasks(project_id)


def test_a_re_push_waits_for_an_import_whose_reply_was_lost_and_imports_nothing_twice(
        session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    import annotator.sync as sync
    monkeypatch.setattr(sync, "POLL_SECONDS", 0.01)
    with session_factory() as s:
        tasks = make_review_queue(s, n=6)
    fake = SlowImportLabelStudio(late=3)
    with pytest.raises(LabelStudioError, match="ReadTimeout"):
        push(session_factory, fake, batch_size=6)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(LabelStudioImport)) == 1  # the pending batch is known
    summary = push(session_factory, fake, batch_size=6, settle_seconds=30)
    assert (summary.reconciled, summary.pushed, fake.imports) == (6, 0, 1 + 0)
    assert fake.listings == 4 and all(len(held_by(fake, t)) == 1 for t in tasks)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(LabelStudioImport)) == 0
        assert None not in set(s.scalars(select(ReviewTask.labelstudio_task_id)))
    assert all(fake.tasks[ls][BATCH] == fake.tasks[held_by(fake, tasks[0])[0]][BATCH] for t in tasks
               for ls in held_by(fake, t))


def test_an_import_lost_for_longer_than_the_settle_time_is_sent_again_and_a_late_copy_is_removed(
        session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    import annotator.sync as sync
    monkeypatch.setattr(sync, "POLL_SECONDS", 0.01)
    with session_factory() as s:
        tasks = make_review_queue(s, n=3)
    fake = SlowImportLabelStudio(late=10**6)
    with pytest.raises(LabelStudioError):
        push(session_factory, fake)
    with write_transaction(session_factory) as s:  # it was sent long ago
        s.execute(LabelStudioImport.__table__.update().values(
            started_at=datetime.now(timezone.utc) - timedelta(seconds=300)))
    assert push(session_factory, fake, settle_seconds=120).pushed == 3
    fake.late = 0  # the lost import lands after all
    summary = push(session_factory, fake)
    assert summary.duplicates_removed and all(len(held_by(fake, t)) == 1 for t in tasks)


def test_an_import_that_never_reached_the_server_is_not_waited_for(
        session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        make_review_queue(s, n=2)

    class Refusing(FakeLabelStudio):
        refuse = True

        def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
            if self.refuse:
                raise LabelStudioError("Label Studio at x unreachable during import tasks: ConnectError")
            return super().import_tasks(project_id, tasks)

    fake = Refusing()
    with pytest.raises(LabelStudioError):
        push(session_factory, fake)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(LabelStudioImport)) == 0
    fake.refuse = False
    assert push(session_factory, fake, settle_seconds=3600).pushed == 2  # no wait


def test_ctrl_c_stops_push_between_batches_with_every_imported_batch_recorded(
        session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        make_review_queue(s, n=5)
    fake = FakeLabelStudio()
    asked: list[int] = []

    def stop() -> bool:
        asked.append(1)
        return len(fake.tasks) >= 2

    summary = push(session_factory, fake, batch_size=2, stop=stop)
    assert (summary.interrupted, summary.pushed, len(fake.tasks)) == (True, 2, 2)
    with session_factory() as s:
        recorded = [t.labelstudio_task_id for t in s.scalars(select(ReviewTask).order_by(ReviewTask.id))]
    assert sorted(x for x in recorded if x is not None) == sorted(fake.tasks) and recorded.count(None) == 3
    rest = push(session_factory, fake, batch_size=2)
    assert (rest.interrupted, rest.pushed, len(fake.tasks)) == (False, 3, 5)


def test_the_signing_key_is_made_once_and_never_printed(session_factory: sessionmaker[Session]) -> None:
    with write_transaction(session_factory) as s:
        first = sync_secret(s)
    with write_transaction(session_factory) as s:
        assert sync_secret(s) == first and len(first) == 64
    fake, (t1, _), ls = setup(session_factory)
    assert first not in repr(fake.tasks)
    assert fake.tasks[ls[t1]][SIGNATURE] == signed(session_factory, t1)[SIGNATURE]


def test_a_copy_annotated_between_the_listing_and_its_deletion_is_kept(session_factory: sessionmaker[Session]) -> None:
    """The listing said nobody annotated the copy; somebody did before push got to it: push asks again right before
    deleting, keeps the copy and reports it, and pull takes the annotation."""
    fake, (t1, _), ls = setup(session_factory)
    copy = 7777
    fake.tasks[copy] = dict(fake.tasks[ls[t1]])


    listed = fake.project_tasks

    def listing_then_annotation(project_id: int) -> list[tuple[int, Any, int]]:
        rows = listed(project_id)
        fake.annotate(copy, "ann@lab.org", "accept")  # right after the listing was taken
        return rows

    fake.project_tasks = listing_then_annotation  # type: ignore[method-assign]
    summary = push(session_factory, fake)
    assert summary.duplicates_removed == [] and copy in fake.tasks and len(summary.duplicates_kept) == 1
    fake.project_tasks = listed  # type: ignore[method-assign]
    pulled = pull(session_factory, fake)
    assert (pulled.pulled, pulled.from_copies) == (1, 1)
    assert status_of(session_factory, t1) == ("done", "accepted")


def test_the_signing_key_made_by_many_at_once_is_one_key(session_factory: sessionmaker[Session]) -> None:
    """Eight pushes or pulls starting together on a database without a key: every one signs with the same key."""
    from tests.factories import race

    def make(_: int) -> str:
        with write_transaction(session_factory) as s:
            return sync_secret(s)

    keys = race(8, make)
    assert len(set(keys)) == 1 and len(keys[0]) == 64  # type: ignore[arg-type]
    with session_factory() as s:
        assert sync_secret(s) == keys[0]


def test_push_on_the_command_line_waits_as_long_as_the_timeout_setting_and_stops_on_ctrl_c(
        monkeypatch: pytest.MonkeyPatch, database_url: str, session_factory: sessionmaker[Session]) -> None:
    from typer.testing import CliRunner

    import annotator.sync as sync
    from annotator.settings import get_settings
    from lumicrs_cli import app

    seen: dict[str, Any] = {}

    def capture(factory: Any, adapter: Any, kind: str, project: str, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return sync.SyncSummary(interrupted=True)

    monkeypatch.setattr(sync, "push_tasks", capture)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LABELSTUDIO_API_KEY", "k")
    monkeypatch.setenv("LABELSTUDIO_TIMEOUT_SECONDS", "7")
    monkeypatch.setenv("LABELSTUDIO_BATCH_SIZE", "9")
    from db.settings import get_settings as database_settings
    for clear in (get_settings.cache_clear, database_settings.cache_clear):
        clear()
    try:
        result = CliRunner().invoke(app, ["annotate", "push"])
    finally:
        for clear in (get_settings.cache_clear, database_settings.cache_clear):
            clear()
    assert (seen["settle_seconds"], seen["batch_size"]) == (7.0, 9) and callable(seen["stop"])
    assert seen["stop"]() is False  # no Ctrl+C yet
    assert result.exit_code == 130 and result.output.strip().startswith("interrupted: 0 tasks pushed")
