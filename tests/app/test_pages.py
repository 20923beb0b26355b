"""Streamlit AppTest driving every page of the real app against SQLite and PostgreSQL."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from streamlit.testing.v1 import AppTest

from db.models import Candidate, DatasetExport, Rating, Review, ReviewTask
from db.rubrics import RUBRICS
from tests.factories import make_rating_queue, make_review_queue

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")


def open_page(page: str, name: str | None = "alice", role: str = "annotator") -> AppTest:
    at = (AppTest.from_file(APP, default_timeout=60) if page == "review" else
          AppTest.from_string(f"from streamlit_app import main\nmain(default={page!r})", default_timeout=60))
    at.run()
    assert not at.exception, at.exception
    if name:
        at.sidebar.selectbox(key="reviewer_role").set_value(role)
        at.sidebar.text_input(key="reviewer_name").input(name).run()
        assert not at.exception, at.exception
    return at


def test_review_accept_and_reject_need_reason(database_url: str, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        t1, t2 = make_review_queue(s, n=2, overlap=1)
    at = open_page("review", name=None)
    assert "Enter your name" in at.info[0].value
    at.sidebar.text_input(key="reviewer_name").input("alice").run()
    assert "Tail Film (2011) (tail tier) · judges: 3/5 pass" in at.subheader[0].value
    at.button(key="reject").click().run()
    assert "reason is required to reject" in at.error[0].value
    at.button(key="accept").click().run()
    assert not at.exception and "Saved: accept on task 1" in at.success[0].value
    at.text_input(key=f"reason_{t2}").input("too generic").run()
    at.button(key="reject").click().run()
    assert "Nothing left for you to review" in at.success[-1].value
    with session_factory() as s:
        verdicts = dict(s.execute(select(Review.task_id, Review.verdict)).all())
        assert verdicts == {t1: "accept", t2: "reject"}
        assert [c.status for c in s.scalars(select(Candidate).order_by(Candidate.id))] == ["accepted", "rejected"]


def test_review_edit_saves_edited_dialogue(database_url: str, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        (task,) = make_review_queue(s, n=1)
    at = open_page("review")
    at.text_input(key=f"reason_{task}").input("more natural").run()
    at.text_area(key=f"edited_{task}").input("Seeker: anything spooky?\nRecommender: Tail Film (2011), honestly.").run()
    at.button(key="edit").click().run()
    assert not at.exception
    with session_factory() as s:
        review = s.scalars(select(Review)).one()
        assert review.verdict == "edit" and review.edited_turns[1]["text"] == "Tail Film (2011), honestly."


def test_rate_page_scores_five_rubrics(database_url: str, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        make_rating_queue(s, n=1, overlap=2)
    at = open_page("rate", "rita", "researcher")
    assert "response 0" in at.info[0].value
    assert any(RUBRICS[0].guidance in c.value for c in at.caption)
    at.button[0].click().run()
    assert "Score every rubric first" in at.error[0].value
    for rubric in RUBRICS:
        at.radio(key=f"{rubric.key}_1").set_value(4)
    at.button[0].click().run()
    assert not at.exception
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Rating)) == len(RUBRICS)
        assert s.scalars(select(ReviewTask)).one().status == "open"  # overlap 2: one more rater needed


def test_dashboard_renders_with_data(database_url: str, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        make_review_queue(s, n=2)
    at = open_page("dashboard", name=None)
    assert not at.exception
    headers = [h.value for h in at.header]
    assert headers == ["Long tail", "Augmented candidates by tier", "Review throughput", "Rating agreement",
                       "Training runs"]
    assert at.selectbox(key="dash_dataset").value == "toy"


def test_export_page_is_for_leads(database_url: str, session_factory: sessionmaker[Session],
                                  tmp_path: Path) -> None:
    with session_factory() as s:
        make_review_queue(s, n=1)
        s.get_one(Candidate, 1).status = "auto_accepted"
        s.commit()
    at = open_page("export", "ann", "annotator")
    assert "Only leads can export" in at.warning[0].value
    at = open_page("export", "lee", "lead")
    at.text_input(key="export_dir").input(str(tmp_path)).run()
    at.button[0].click().run()
    assert not at.exception and "Exported 1 dialogues as toy-augmented v1" in at.success[0].value
    with session_factory() as s:
        export = s.scalars(select(DatasetExport)).one()
        assert export.created_by == "lee" and Path(export.path).exists()
