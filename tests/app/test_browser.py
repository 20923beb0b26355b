"""Real-browser tests: headless Chromium at 1400x900 works in the running app; what it did is in the database."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest
from sqlalchemy import select

from db.engine import make_engine, make_session_factory
from db.models import Candidate, Review, Reviewer, ReviewTask
from tests.app.browser import REPO, keys_ready, shot, sign_in
from tests.factories import make_review_queue

pytestmark = pytest.mark.slow


def test_reviewer_uses_shortcuts_on_one_screen(app_url: tuple[str, str], browser_page: Any) -> None:
    """Reason typed and submitted by shortcut without leaving the box; Alt+A accepts; everything fits 1400x900."""
    from playwright.sync_api import expect

    base, db_url = app_url
    factory = make_session_factory(make_engine(db_url))
    with factory() as s:
        t1, t2 = make_review_queue(s, n=2)
    page = browser_page
    sign_in(page, base)
    expect(page.get_by_text("Target: Tail Film (2011) (tail tier)")).to_be_visible(timeout=30_000)
    for label in ("Accept", "Reject", "Save edit", "Skip"):
        box = page.get_by_role("button", name=label).bounding_box()
        assert box is not None and box["y"] + box["height"] <= 900, f"{label} is below the fold: {box}"
    rationale = page.get_by_text("judge-0: PASS")
    expect(rationale).to_be_visible()
    assert rationale.evaluate("e => e.scrollWidth <= e.clientWidth + 1")  # wrapped, not cut off
    expect(page.get_by_text("judge-4: INVALID output")).to_be_visible()
    shot(page, "review", docs=True)
    keys_ready(page)
    reason = page.get_by_label("Reason (required to reject or edit)")
    reason.fill("too generic")
    start = time.perf_counter()
    reason.press("Alt+x")  # the reason is still being typed: the shortcut must submit it
    expect(page.get_by_text(f"Saved: reject on task {t1}.")).to_be_visible(timeout=30_000)
    action_seconds = time.perf_counter() - start
    shot(page, "review-after-reject")
    page.keyboard.press("Alt+a")
    expect(page.get_by_text(f"Saved: accept on task {t2}.")).to_be_visible(timeout=30_000)
    with factory() as s:
        reviews = {r.task_id: (r.verdict, r.reason) for r in s.scalars(select(Review))}
        assert reviews == {t1: ("reject", "too generic"), t2: ("accept", "")}
        assert all(s.get_one(Reviewer, r.reviewer_id).name == "bea" for r in s.scalars(select(Review)))
    print(f"\nreview action round trip in the browser: {action_seconds:.2f} s")


def test_bad_edit_shows_its_error_beside_the_buttons_and_stores_nothing(app_url: tuple[str, str],
                                                                         browser_page: Any) -> None:
    from playwright.sync_api import expect

    base, db_url = app_url
    factory = make_session_factory(make_engine(db_url))
    with factory() as s:
        make_review_queue(s, n=1)
    page = browser_page
    sign_in(page, base)
    expect(page.get_by_role("button", name="Save edit")).to_be_visible(timeout=30_000)
    page.get_by_label("Reason (required to reject or edit)").fill("tone")
    page.get_by_text("Edit the dialogue").click()
    page.locator("textarea").fill("this line has no speaker\nRecommender: ok")
    page.get_by_role("button", name="Save edit").click()
    error = page.get_by_text("Nothing was saved")
    expect(error).to_be_visible(timeout=30_000)
    button = page.get_by_role("button", name="Save edit").bounding_box()
    box = error.bounding_box()
    assert button is not None and box is not None and 0 <= box["y"] - button["y"] <= 150  # right under the buttons
    shot(page, "review-bad-edit")
    with factory() as s:
        assert s.scalars(select(Review)).first() is None


def test_dialogue_markdown_is_shown_as_text_and_fetches_nothing(app_url: tuple[str, str], browser_page: Any) -> None:
    from playwright.sync_api import expect

    base, db_url = app_url
    factory = make_session_factory(make_engine(db_url))
    with factory() as s:
        (task_id,) = make_review_queue(s, n=1)
        candidate = s.get_one(Candidate, s.get_one(ReviewTask, task_id).candidate_id)
        candidate.turns = [{"role": "seeker", "text": "look ![pixel](http://127.0.0.1:9/pixel.png) **Recommender:** hi"},
                           {"role": "recommender", "text": "Tail Film"}]
        s.commit()
    page = browser_page
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url) if "pixel.png" in request.url else None)
    sign_in(page, base)
    expect(page.get_by_text("![pixel](http://127.0.0.1:9/pixel.png)", exact=False).first).to_be_visible(timeout=30_000)
    assert page.locator("img[src*='pixel.png']").count() == 0 and fetched == []
    shot(page, "review-markdown-as-text")


def test_an_empty_queue_speaks_to_the_role_that_sees_it(app_url: tuple[str, str], browser_page: Any) -> None:
    """A lead is told the commands that fill the queue; an annotator, who cannot run them, is not."""
    from playwright.sync_api import expect

    base, _ = app_url
    sign_in(browser_page, base)
    expect(browser_page.get_by_text("The review queue is empty")).to_be_visible(timeout=30_000)
    expect(browser_page.get_by_text("Your lead adds dialogues", exact=False)).to_be_visible()
    expect(browser_page.get_by_text("lumicrs", exact=False)).to_have_count(0)
    shot(browser_page, "review-empty-queue")
    browser_page.get_by_role("button", name="Sign out").click()
    sign_in(browser_page, base, "lea", "lead", path="/review")
    # the lead may land on the Dashboard, her first page (a fresh-clone run did once): she opens Review as she would
    browser_page.get_by_role("link", name="Review").click()
    expect(browser_page.get_by_text("The review queue is empty")).to_be_visible(timeout=30_000)
    expect(browser_page.get_by_text("lumicrs augment generate", exact=False)).to_be_visible(timeout=30_000)


def test_sign_in_survives_reload_and_a_non_lead_cannot_reach_export(app_url: tuple[str, str], browser_page: Any) -> None:
    from playwright.sync_api import expect

    base, _ = app_url
    page = browser_page
    sign_in(page, base, "ann")
    expect(page.get_by_text("Signed in as ann (annotator)")).to_be_visible(timeout=30_000)
    page.reload()
    expect(page.get_by_text("Signed in as ann (annotator)")).to_be_visible(timeout=30_000)
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_text("Signed in as ann (annotator)")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("link", name="Export")).to_have_count(0)
    page.goto(page.url.replace("/dashboard", "/export"))
    expect(page.get_by_text("Signed in as ann (annotator)")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Export approved data")).to_have_count(0)
    shot(page, "annotator-no-export")


def test_undo_history_and_export_in_the_browser(app_url: tuple[str, str], browser_page: Any) -> None:
    """A lead reviews, undoes, reviews again, changes the verdict on My verdicts, then exports after a preview."""
    from playwright.sync_api import expect

    base, db_url = app_url
    factory = make_session_factory(make_engine(db_url))
    with factory() as s:
        (task_id,) = make_review_queue(s, n=1)
    page = browser_page
    sign_in(page, base, "lea", "lead")
    page.get_by_role("link", name="Review").click()  # a lead lands on the Dashboard
    expect(page.get_by_role("button", name="Accept")).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Accept").click()
    expect(page.get_by_text(f"Saved: accept on task {task_id}.")).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Undo my last verdict").click()
    expect(page.get_by_text("Undone")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Accept")).to_be_visible(timeout=30_000)  # the task is back with lea
    page.get_by_role("button", name="Accept").click()
    expect(page.get_by_text(f"Saved: accept on task {task_id}.")).to_be_visible(timeout=30_000)
    page.get_by_role("link", name="Export").click()
    expect(page.get_by_text("body/tail dialogues would be exported", exact=False)).to_be_visible(timeout=30_000)
    page.get_by_text("Write a new version with", exact=False).click()
    page.get_by_role("button", name="Export new version").click()
    expect(page.get_by_text("Exported 1 dialogues as toy-augmented v1")).to_be_visible(timeout=30_000)
    shot(page, "export", docs=True)
    page.get_by_role("link", name="My verdicts").click()
    expect(page.get_by_role("button", name="Change my verdict")).to_be_visible(timeout=30_000)
    page.get_by_label("New verdict").click()
    page.get_by_role("option", name="reject").click()
    page.get_by_label("Reason (required to reject or edit)").fill("second look: off topic")
    page.get_by_role("button", name="Change my verdict").click()
    expect(page.get_by_text("re-decided", exact=False)).to_be_visible(timeout=30_000)
    shot(page, "history-changed")
    with factory() as s:
        assert s.get_one(Candidate, s.get_one(ReviewTask, task_id).candidate_id).status == "rejected"


def test_rate_page_shows_titles_and_dashboard_shows_verdict_agreement(app_url: tuple[str, str],
                                                                      browser_page: Any) -> None:
    from playwright.sync_api import expect

    from db.models import Dataset, Movie, Response
    from tests.factories import make_rating_queue

    base, db_url = app_url
    factory = make_session_factory(make_engine(db_url))
    with factory() as s:
        make_rating_queue(s, n=1, overlap=1)
        s.get_one(Response, 1).text = "how about @95495 ?"
        s.add(Movie(dataset_id=s.scalars(select(Dataset)).one().id, external_id="95495", title="Airplane! (1980)",
                    meta={}))
        s.commit()
    page = browser_page
    sign_in(page, base, "rita", "researcher")
    expect(page.get_by_text("Signed in as rita (researcher)")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("how about Airplane! (1980) ?")).to_be_visible(timeout=30_000)  # a researcher lands here
    expect(page.get_by_text("@95495")).to_have_count(0)
    shot(page, "rate-titles")
    groups = page.get_by_role("radiogroup")
    expect(groups).to_have_count(5)
    for i in range(5):  # score every rubric with the mouse, then submit from the keyboard as the button says
        groups.nth(i).get_by_text("4", exact=True).click()
    page.keyboard.press("Control+Enter")
    expect(page.get_by_text("Nothing left for you to rate", exact=False)).to_be_visible(timeout=30_000)
    with factory() as s:
        from db.models import Rating
        assert sorted(r.score for r in s.scalars(select(Rating))) == [4] * 5
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_text("Verdict agreement")).to_be_visible(timeout=30_000)
    shot(page, "dashboard", docs=True)


def test_a_long_placeholder_dialogue_fits_and_opens_at_its_first_turn(app_url: tuple[str, str],
                                                                      browser_page: Any) -> None:
    from playwright.sync_api import expect

    from db.models import Candidate

    base, db_url = app_url
    factory = make_session_factory(make_engine(db_url))
    with factory() as s:
        make_review_queue(s, n=1)
        candidate = s.get_one(Candidate, 1)
        candidate.generator = "llm-fewshot:gemma-3-270m"  # the first run's placeholder model: its notice shows
        candidate.turns = [{"role": "seeker" if i % 2 == 0 else "recommender", "text": f"turn number {i} " * 8}
                           for i in range(24)]
        s.commit()
    page = browser_page
    sign_in(page, base, "pia")
    expect(page.get_by_text("placeholder model", exact=False).first).to_be_visible(timeout=30_000)
    for label in ("Accept", "Reject", "Save edit", "Skip"):
        box = page.get_by_role("button", name=label).bounding_box()
        assert box is not None and box["y"] + box["height"] <= 900, f"{label} is below the fold: {box}"
    first = page.get_by_text("Seeker: turn number 0", exact=False).first
    expect(first).to_be_in_viewport()  # the dialogue pane opens at the top, not scrolled to its end
    shot(page, "review-placeholder-long")



def test_the_main_jobs_slice_leaves_writer_dialogues_that_name_their_movie_on_the_review_page(
        app_url: tuple[str, str], browser_page: Any) -> None:
    """`lumicrs llm demo` as run_main.sh runs it (no endpoint: the shipped writer, 32 at a time on transformers, the
    trained judge panel), here on a toy corpus with every judged dialogue sent to review; then the Review page."""
    import json

    from playwright.sync_api import expect

    from augment.writer import names_target
    from db.models import Movie
    from db.types import Turn
    from tests.augment.test_writer import build_writer_corpus

    base, db_url = app_url
    factory = make_session_factory(make_engine(db_url))
    with factory() as s:
        build_writer_corpus(s)
    env = {key: value for key, value in os.environ.items() if key not in ("OPENAI_BASE_URL", "AUGMENT_BASE_URL")}
    env.update(DATABASE_URL=db_url, AUGMENT_ACCEPT_MIN_VOTES="6", AUGMENT_REVIEW_MIN_VOTES="0")  # all to review
    demo = subprocess.run([sys.executable, "-m", "lumicrs_cli", "llm", "demo", "--dataset", "toy", "--movies", "2",
                           "--samples", "2", "--json"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    summary = json.loads(demo.stdout[demo.stdout.index("{"):])
    assert summary["generated"] == 4 and summary["generated"] == sum(
        summary[k] for k in ("near_duplicates", "accepted", "waiting_for_review", "discarded", "not_yet_judged"))
    with factory() as s:
        candidates = list(s.scalars(select(Candidate)))
        titles = {m.id: m.title for m in s.scalars(select(Movie))}
        named = [names_target([Turn.model_validate(t) for t in c.turns], titles[c.movie_id]) for c in candidates]
        assert {c.generator.split(":")[0] for c in candidates} == {"local-writer-hf"}  # batched: transformers
        assert {c.params["temperature"] for c in candidates} == {0.7}  # the temperature it wrote at is stored
        waiting = [c for c in candidates if c.status == "needs_review"]
    assert sum(named) >= 3, named  # up to three samples each until the recommender names the movie
    assert len(waiting) == summary["waiting_for_review"] >= 1
    page = browser_page
    sign_in(page, base, "nia")
    expect(page.get_by_text("Target:", exact=False).first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("local trained judge panel", exact=False).first).to_be_visible()  # the judges named
    expect(page.get_by_text("held-out AUC", exact=False).first).to_be_visible()  # with each one's measured AUC
    shot(page, "main-job-review", docs=True)
