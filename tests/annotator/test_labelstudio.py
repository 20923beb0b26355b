"""Push/pull against a real Label Studio server started from its own venv."""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from annotator.errors import LabelStudioError
from annotator.labelstudio import LabelStudioAdapter
from annotator.sync import pull_annotations, push_tasks
from db.engine import write_transaction
from db.models import Candidate, Rating, Review, Reviewer, ReviewTask
from db.rubrics import RUBRIC_KEYS
from tests.factories import make_rating_queue, make_review_queue
from tests.labelstudio_server import LabelStudioServer, labelstudio_available, start_labelstudio

pytestmark = pytest.mark.slow


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


def test_adjudication_round_trip(labelstudio: LabelStudioServer, session_factory: sessionmaker[Session],
                                 database_url: str) -> None:
    adapter = LabelStudioAdapter(labelstudio.url, labelstudio.token)
    project = f"adjudication {database_url.split(':')[0]}"
    with session_factory() as s:
        t1, t2 = make_review_queue(s, n=2, overlap=2)
    with session_factory.begin() as s:
        assert push_tasks(s, adapter, "adjudication", project).pushed == 2
    with session_factory.begin() as s:
        assert push_tasks(s, adapter, "adjudication", project).pushed == 0  # idempotent
        ls_ids = dict(s.execute(select(ReviewTask.id, ReviewTask.labelstudio_task_id)).all())
    suffix = database_url.split(":")[0]
    u1, u2 = adapter.create_user(f"una-{suffix}@example.com"), adapter.create_user(f"ulf-{suffix}@example.com")
    adapter.annotate(ls_ids[t1], [choice("verdict", "accept")], completed_by=u1)
    adapter.annotate(ls_ids[t1], [choice("verdict", "accept")], completed_by=u2)
    adapter.annotate(ls_ids[t2], [choice("verdict", "edit"), text("reason", "tighter"),
                                  text("edited", "Seeker: scary?\nRecommender: Tail Film (2011)!")], completed_by=u1)
    adapter.annotate(ls_ids[t2], [choice("verdict", "reject")], completed_by=u2)  # no reason: invalid
    for _ in range(2):  # pulling twice changes nothing
        with write_transaction(session_factory) as s:
            summary = pull_annotations(s, adapter, "adjudication", project)
        assert summary.pulled == 3 and len(summary.invalid) == 1 and "reason is required" in summary.invalid[0]
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Review)) == 3
        assert {r.source for r in s.scalars(select(Review))} == {"labelstudio"}
        assert set(s.scalars(select(Reviewer.name))) == {f"una-{suffix}@example.com", f"ulf-{suffix}@example.com"}
        edit = s.scalar(select(Review).where(Review.verdict == "edit"))
        assert edit is not None and edit.edited_turns == [{"role": "seeker", "text": "scary?"},
                                                           {"role": "recommender", "text": "Tail Film (2011)!"}]
        task1 = s.get_one(ReviewTask, t1)
        assert task1.status == "done" and s.get_one(Candidate, task1.candidate_id).status == "accepted"


def test_predictions_carry_judge_votes(labelstudio: LabelStudioServer, session_factory: sessionmaker[Session],
                                       database_url: str) -> None:
    adapter = LabelStudioAdapter(labelstudio.url, labelstudio.token)
    project = f"predictions {database_url.split(':')[0]}"
    with session_factory() as s:
        make_review_queue(s, n=1)
    with session_factory.begin() as s:
        push_tasks(s, adapter, "adjudication", project)
    project_id = adapter.ensure_project(project, "")
    task = next(iter(adapter.client.tasks.list(project=project_id, fields="all")))
    assert task.data["judge_summary"] == "3/5 pass" and "judge-4: fail (invalid output)" in task.data["rationales"]
    predictions = adapter.client.predictions.list(task=task.id)
    assert predictions[0].model_version == "five-judges"
    assert predictions[0].result[0]["value"]["choices"] == ["accept"]


def test_rating_round_trip(labelstudio: LabelStudioServer, session_factory: sessionmaker[Session],
                           database_url: str) -> None:
    adapter = LabelStudioAdapter(labelstudio.url, labelstudio.token)
    project = f"rating {database_url.split(':')[0]}"
    with session_factory() as s:
        (task,) = make_rating_queue(s, n=1, overlap=1)
    with session_factory.begin() as s:
        push_tasks(s, adapter, "rating", project)
        ls_id = s.get_one(ReviewTask, task).labelstudio_task_id
    assert ls_id is not None
    adapter.annotate(ls_id, [{"from_name": k, "to_name": "response", "type": "rating", "value": {"rating": 3}}
                             for k in RUBRIC_KEYS])
    with write_transaction(session_factory) as s:
        assert pull_annotations(s, adapter, "rating", project).pulled == 1
    with session_factory() as s:
        scores = list(s.scalars(select(Rating.score)))
        assert scores == [3] * len(RUBRIC_KEYS) and s.get_one(ReviewTask, task).status == "done"


def test_unreachable_server_is_a_clear_error() -> None:
    adapter = LabelStudioAdapter("http://127.0.0.1:9", "x")
    with pytest.raises(LabelStudioError, match="unreachable"):
        adapter.ensure_project("p", "<View/>")
