"""Issue 43 in a real browser (headless Chromium, 1400x900): forms that cannot store a verdict nobody chose, drafts,
claims that follow the person, Rate like Argilla, guidelines, and a layout that keeps buttons and messages in view."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from db.models import Draft, Guideline, Rating, Review, Reviewer, TaskLock
from tests.app.browser import TIMEOUT, in_view, keys_ready, rerun_done, shot, sign_in, token_of
from tests.app.conftest import App
from tests.factories import make_rating_queue, make_review_queue

pytestmark = pytest.mark.slow
REASON = "Reason (required to reject or edit)"


def count(app: App, model: Any) -> int:
    with app.factory() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def reviews(app: App) -> list[tuple[int, str, str]]:
    with app.factory() as s:
        return [(r.task_id, r.verdict, r.reason) for r in s.scalars(select(Review).order_by(Review.id))]


def locks(app: App) -> list[tuple[int, str]]:
    with app.factory() as s:
        return [(lock.task_id, s.get_one(Reviewer, lock.reviewer_id).name) for lock in s.scalars(select(TaskLock))]


def settle(seconds: float = 1.5) -> None:
    """Time for a rerun the key press may have started (a stored verdict would be in the database by then)."""
    time.sleep(seconds)


def test_enter_and_ctrl_enter_in_every_text_field_store_nothing(app_factory: Callable[..., App],
                                                                browser_page: Any) -> None:
    """Review (reason, edit box), My verdicts (reason) and Admin (name, password, email, guidelines): typing then
    Enter, then Ctrl+Enter, in each field leaves the database as it was; only a button stores."""
    from playwright.sync_api import expect

    app = app_factory()
    with app.factory() as s:
        make_review_queue(s, n=2)
    page = browser_page
    sign_in(page, app.base, "lea", "lead", path="/review")
    expect(page.get_by_text("Target:", exact=False)).to_be_visible(timeout=TIMEOUT)
    page.get_by_text("Edit the dialogue").click()
    fields = [page.get_by_label(REASON), page.locator("textarea")]
    for field in fields:
        field.click()
        field.press("End")
        field.type(" typed")
        for key in ("Enter", "Control+Enter"):
            field.press(key)
            settle()
            assert reviews(app) == [], f"{key} stored a verdict"
    expect(page.get_by_text("Saved:", exact=False)).to_have_count(0)
    page.get_by_role("button", name="Accept").click()  # one verdict, by its button, to have one on My verdicts
    expect(page.get_by_text("Saved: accept on task 1.")).to_be_visible(timeout=TIMEOUT)
    page.get_by_role("link", name="My verdicts").click()
    reason = page.get_by_label(REASON)
    expect(reason).to_be_visible(timeout=TIMEOUT)
    reason.fill("second look")
    for key in ("Enter", "Control+Enter"):
        reason.press(key)
        settle()
        assert reviews(app) == [(1, "accept", "typed")]  # the reason typed on Review went with its Accept
    page.get_by_role("link", name="Admin").click()
    expect(page.get_by_label("Name", exact=True).last).to_be_visible(timeout=TIMEOUT)
    people, guides = count(app, Reviewer), count(app, Guideline)
    admin_fields = [page.get_by_label("Name", exact=True).last, page.get_by_label("Initial password (8+ characters)"),
                    page.get_by_label("Label Studio email"), page.locator("textarea")]
    for field in admin_fields:
        field.click()
        field.type("newbie-text")
        for key in ("Enter", "Control+Enter"):
            field.press(key)
            settle()
            assert (count(app, Reviewer), count(app, Guideline)) == (people, guides), f"{key} stored something"


def test_a_shortcut_typed_in_the_reason_box_acts_on_that_reason_and_a_double_click_stores_one_verdict(
        app_factory: Callable[..., App], browser_page: Any) -> None:
    from playwright.sync_api import expect

    app = app_factory()
    with app.factory() as s:
        t1, t2, _ = make_review_queue(s, n=3)
    page = browser_page
    sign_in(page, app.base)
    keys_ready(page)
    reason = page.get_by_label(REASON)
    reason.fill("too generic")
    reason.press("Alt+x")  # typed a moment ago, never committed: the shortcut commits it first
    expect(page.get_by_text(f"Saved: reject on task {t1}.")).to_be_visible(timeout=TIMEOUT)
    page.get_by_role("button", name="Accept").dblclick()
    expect(page.get_by_text(f"Saved: accept on task {t2}.")).to_be_visible(timeout=TIMEOUT)
    settle()
    assert reviews(app) == [(t1, "reject", "too generic"), (t2, "accept", "")]
    expect(page.get_by_text("changed your verdict", exact=False)).to_have_count(0)


def test_alt_x_without_a_reason_says_why_in_view_and_the_action_bar_never_moves(
        app_factory: Callable[..., App], browser_page: Any) -> None:
    """After the first verdict the Undo button is live: Accept/Reject/Save edit/Skip and every message stay inside
    the window, wherever the page is in its cycle."""
    from playwright.sync_api import expect

    app = app_factory()
    with app.factory() as s:
        make_review_queue(s, n=3)
    page = browser_page
    sign_in(page, app.base)
    expect(page.get_by_role("button", name="Accept")).to_be_visible(timeout=TIMEOUT)
    before = {label: page.get_by_role("button", name=label).bounding_box() for label in ("Accept", "Skip")}
    keys_ready(page)
    page.keyboard.press("Alt+a")
    expect(page.get_by_text("Saved: accept on task 1.")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_role("button", name="Undo my last verdict")).to_be_enabled()
    page.keyboard.press("Alt+x")
    error = page.get_by_text("A reason is required to reject. Nothing was saved.")
    expect(error).to_be_visible(timeout=TIMEOUT)
    assert in_view(error)
    for label in ("Accept", "Reject", "Save edit", "Skip"):
        button = page.get_by_role("button", name=label)
        assert in_view(button), f"{label} is out of view"
    assert {label: page.get_by_role("button", name=label).bounding_box() for label in ("Accept", "Skip")} == before
    page.get_by_text("Edit the dialogue").click()
    expect(page.locator("textarea")).to_be_visible(timeout=TIMEOUT)
    assert all(in_view(page.get_by_role("button", name=label)) for label in ("Accept", "Reject", "Save edit", "Skip"))
    shot(page, "review-edit", docs=True)
    assert reviews(app) == [(1, "accept", "")]


@pytest.mark.parametrize("line", ["Recommender; try it", "Recmndr: try it", "1. Recommender: try it",
                                  "Recommender： try it"])
def test_a_mistyped_label_shows_in_the_preview_and_is_never_saved(app_factory: Callable[..., App],
                                                                  browser_page: Any, line: str) -> None:
    from playwright.sync_api import expect

    app = app_factory()
    with app.factory() as s:
        make_review_queue(s, n=1)
    page = browser_page
    sign_in(page, app.base)
    page.get_by_label(REASON).fill("fix the ending")
    page.get_by_text("Edit the dialogue").click()
    box = page.locator("textarea")
    box.click()
    box.press("Control+End")
    box.type(f"\n{line}")  # the preview follows the typing (committed half a second after it stops)
    expect(page.get_by_text("Cannot save this edit: line 3", exact=False)).to_be_visible(timeout=TIMEOUT)
    page.get_by_role("button", name="Save edit").click()
    expect(page.get_by_text("Edited dialogue: line 3", exact=False)).to_be_visible(timeout=TIMEOUT)
    assert reviews(app) == []
    box.fill("Seeker: Any creepy movie? #0\nRecommender: Tail Film is terrifying.\nSeeker: Thanks, I will!")
    expect(page.get_by_text("3 turns: what Save edit stores")).to_be_visible(timeout=TIMEOUT)
    page.keyboard.press("Alt+e")
    expect(page.get_by_text("Saved: edit on task 1.")).to_be_visible(timeout=TIMEOUT)
    with app.factory() as s:
        assert s.scalars(select(Review)).one().edited_turns[-1] == {"role": "seeker", "text": "Thanks, I will!"}


def test_a_typed_reason_edit_and_scores_survive_a_reload(app_factory: Callable[..., App], browser_page: Any) -> None:
    from playwright.sync_api import expect

    app = app_factory()
    with app.factory() as s:
        make_review_queue(s, n=1)
        make_rating_queue(s, n=1, overlap=1)
    page = browser_page
    sign_in(page, app.base, "lea", "lead", path="/review")
    page.get_by_label(REASON).fill("the ending is off")
    page.get_by_text("Edit the dialogue").click()
    page.locator("textarea").fill("Seeker: Any creepy movie? #0\nRecommender: Tail Film, honestly.")
    settle(2.5)  # a pause: both commit and are kept
    page.reload()
    expect(page.get_by_label(REASON)).to_have_value("the ending is off", timeout=TIMEOUT)
    expect(page.locator("textarea")).to_have_value("Seeker: Any creepy movie? #0\nRecommender: Tail Film, honestly.")
    page.goto(f"{app.base}/rate?session={token_of(page)}")
    expect(page.get_by_role("radiogroup")).to_have_count(5, timeout=TIMEOUT)
    for key in "42":
        page.keyboard.press(key)
        settle(0.8)
    page.reload()
    expect(page.get_by_role("radiogroup").nth(1).get_by_role("radio", name="2")).to_be_checked(timeout=TIMEOUT)
    expect(page.get_by_role("radiogroup").nth(0).get_by_role("radio", name="4")).to_be_checked()
    assert count(app, Draft) == 2 and count(app, Rating) == 0 and reviews(app) == []


def test_claims_follow_the_person(app_factory: Callable[..., App], browser: Any) -> None:
    """Each role lands on its own page and claims nothing it cannot work; deep links open; sign-out gives the task
    back at once; a closed tab lets it lapse within LUMICRS_CLAIM_SECONDS while an open one keeps it."""
    from playwright.sync_api import expect

    app = app_factory({"LUMICRS_CLAIM_SECONDS": "8"})
    with app.factory() as s:
        (task,) = make_review_queue(s, n=1)
        make_rating_queue(s, n=1, overlap=1)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    for name, role, marker in (("lea", "lead", "Dashboard"), ("rita", "researcher", "keys: 1-5 score")):
        sign_in(page, app.base, name, role)
        expect(page.get_by_text(marker).first).to_be_visible(timeout=TIMEOUT)
        assert [lock for lock in locks(app) if lock[1] == name and lock[0] == task] == []  # no review claim
        token = token_of(page)
        for path in ("review", "history", "rate", "ratings", "dashboard"):
            page.goto(f"{app.base}/{path}?session={token}")
            expect(page.get_by_text(f"Signed in as {name}")).to_be_visible(timeout=TIMEOUT)
            settle(1)
            assert page.get_by_text("Page not found").count() == 0, path
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_label("Password", exact=True)).to_be_visible(timeout=TIMEOUT)
        assert [lock for lock in locks(app) if lock[1] == name] == []  # signing out gave everything back
    sign_in(page, app.base, "ann")
    expect(page.get_by_text("Target:", exact=False)).to_be_visible(timeout=TIMEOUT)
    assert locks(app) == [(task, "ann")]
    other = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(other, app.base, "bob")
    expect(other.get_by_text("Nothing for you right now", exact=False)).to_be_visible(timeout=TIMEOUT)
    settle(10)  # longer than a claim: ann's open page renews hers
    assert locks(app) == [(task, "ann")]
    page.close()  # the tab closes without signing out
    settle(10)
    other.reload()
    expect(other.get_by_text("Target:", exact=False)).to_be_visible(timeout=TIMEOUT)
    assert (task, "bob") in locks(app)


def test_a_role_change_gives_back_the_claims(app_factory: Callable[..., App], browser_page: Any) -> None:
    from db.engine import write_transaction
    from db.queries.accounts import set_role

    app = app_factory()
    with app.factory() as s:
        (task,) = make_review_queue(s, n=1)
    page = browser_page
    sign_in(page, app.base, "ann")
    page.get_by_text("Target:", exact=False).wait_for(timeout=TIMEOUT)
    assert locks(app) == [(task, "ann")]
    with write_transaction(app.factory) as s:
        set_role(s, "ann", "researcher", by=s.scalar(select(Reviewer).where(Reviewer.name == "root")))
    assert locks(app) == []
    page.reload()
    page.get_by_text("keys: 1-5 score").wait_for(timeout=TIMEOUT)  # now a researcher: the Rate page
    assert locks(app) == []


def test_rate_one_response_per_screen_with_number_keys_na_skip_and_a_history(app_factory: Callable[..., App],
                                                                             browser_page: Any) -> None:
    from playwright.sync_api import expect

    app = app_factory()
    with app.factory() as s:
        make_rating_queue(s, n=2, overlap=1)
    page = browser_page
    sign_in(page, app.base, "rita", "researcher")
    expect(page.get_by_role("radiogroup")).to_have_count(5, timeout=TIMEOUT)
    for group in range(5):
        assert in_view(page.get_by_role("radiogroup").nth(group))
    for label in ("Submit ratings", "Skip"):
        assert in_view(page.get_by_role("button", name=label))
    shot(page, "rate", docs=True)
    first = page.get_by_text("Task ", exact=False).first.inner_text()
    keys_ready(page)
    page.keyboard.press("Alt+k")  # skip: the other response comes up
    expect(page.get_by_text(first)).to_have_count(0, timeout=TIMEOUT)
    expect(page.get_by_role("radiogroup")).to_have_count(5, timeout=TIMEOUT)
    rerun_done(page)
    for group, (key, label) in enumerate(zip("5432n", ("5", "4", "3", "2", "N/A"))):
        page.keyboard.press(key)  # the next key waits until this one has scored its rubric (no clock)
        expect(page.get_by_role("radiogroup").nth(group).get_by_role("radio", name=label, exact=True)
               ).to_be_checked(timeout=TIMEOUT)
        rerun_done(page)
    page.keyboard.press("Control+Enter")
    expect(page.get_by_text("Saved ratings for task", exact=False)).to_be_visible(timeout=TIMEOUT)
    with app.factory() as s:
        scores = [r.score for r in s.scalars(select(Rating).order_by(Rating.id))]
    assert scores == [5, 4, 3, 2, None]  # N/A stored as such
    page.get_by_role("link", name="My ratings").click()
    expect(page.get_by_text("Change your ratings")).to_be_visible(timeout=TIMEOUT)
    page.get_by_role("radiogroup").nth(0).get_by_text("1", exact=True).click()
    page.get_by_role("button", name="Save my changed ratings").click()
    expect(page.get_by_text("your ratings were changed", exact=False)).to_be_visible(timeout=TIMEOUT)
    with app.factory() as s:
        assert [r.score for r in s.scalars(select(Rating).order_by(Rating.id))] == [1, 4, 3, 2, None]


def test_guidelines_a_lead_writes_show_beside_every_task_and_go_with_the_export(app_factory: Callable[..., App],
                                                                               browser: Any) -> None:
    from playwright.sync_api import expect

    from db.engine import write_transaction
    from db.models import Candidate
    from db.queries.review import get_or_create_reviewer, submit_review

    app = app_factory()
    with app.factory() as s:
        (task,) = make_review_queue(s, n=1)
    lead = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(lead, app.base, "lea", "lead")
    lead.get_by_role("link", name="Admin").click()
    box = lead.locator("textarea")
    expect(box).to_be_visible(timeout=TIMEOUT)
    box.fill("Reject any dialogue that never names its target movie.")
    lead.get_by_role("button", name="Save as a new version").click()
    expect(lead.get_by_text("Guidelines saved as version 1", exact=False)).to_be_visible(timeout=TIMEOUT)
    shot(lead, "admin", docs=True)
    annotator = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(annotator, app.base, "ann")
    annotator.get_by_role("button", name="Guidelines v1").click()
    expect(annotator.get_by_text("never names its target movie", exact=False)).to_be_visible(timeout=TIMEOUT)
    with write_transaction(app.factory) as s:
        submit_review(s, task, get_or_create_reviewer(s, "ann"), "accept")
        assert s.get_one(Candidate, 1).status == "accepted"
    lead.get_by_role("link", name="Export").click()
    lead.get_by_text("Write a new version with", exact=False).click()
    lead.get_by_role("button", name="Export new version").click()
    expect(lead.get_by_text("Exported 1 dialogues", exact=False)).to_be_visible(timeout=TIMEOUT)
    with app.factory() as s:
        from db.models import DatasetExport
        folder = Path(s.scalars(select(DatasetExport)).one().path).parent
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["guidelines_version"], manifest["guidelines_by"]) == (1, "lea")
    assert (folder / "guidelines.md").read_text().strip() == "Reject any dialogue that never names its target movie."


def test_my_verdicts_offers_edit_only_where_an_edit_exists_and_shows_every_column(app_factory: Callable[..., App],
                                                                                 browser_page: Any) -> None:
    from playwright.sync_api import expect

    app = app_factory()
    with app.factory() as s:
        make_review_queue(s, n=1)
    page = browser_page
    sign_in(page, app.base)
    expect(page.get_by_role("button", name="Accept")).to_be_visible(timeout=TIMEOUT)
    keys_ready(page)
    page.keyboard.press("Alt+a")
    expect(page.get_by_text("Saved: accept on task 1.")).to_be_visible(timeout=TIMEOUT)
    page.get_by_role("link", name="My verdicts").click()
    verdict = page.get_by_label("New verdict")
    expect(verdict).to_be_visible(timeout=TIMEOUT)
    verdict.click()
    assert [o.inner_text() for o in page.get_by_role("option").all()] == ["accept", "reject"]
    page.keyboard.press("Escape")
    grid = page.locator('[data-testid="stDataFrame"]').first
    assert grid.evaluate("e => { const s = e.querySelector('.dvn-scroller'); return !s || s.scrollWidth <= "
                         "s.clientWidth + 1; }"), "the table needs a horizontal scroll: columns are cut"
    shot(page, "my-verdicts")


def test_an_export_of_rows_only_placeholder_judges_approved_warns(app_factory: Callable[..., App],
                                                                 browser_page: Any) -> None:
    from playwright.sync_api import expect
    from sqlalchemy import update

    from db.models import Candidate, JudgeVote

    app = app_factory()
    with app.factory() as s:
        make_review_queue(s, n=1)
        s.execute(update(Candidate).values(status="auto_accepted", generator="local-writer:0123abcd"))
        s.execute(update(JudgeVote).values(judge=JudgeVote.judge + ":gemma-3-270m"))
        s.commit()
    page = browser_page
    sign_in(page, app.base, "lea", "lead")
    page.get_by_role("link", name="Export").click()
    expect(page.get_by_text("1 of 1 rows carry no signal (1 approved by the placeholder judges alone",
                            exact=False)).to_be_visible(timeout=TIMEOUT)
