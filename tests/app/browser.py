"""What the browser tests do the same way: make accounts, sign in, read the database, keep screenshots."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import select

from db.engine import make_engine, make_session_factory, write_transaction
from db.models import Reviewer

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "browser-test-password"
ARTIFACTS = Path(os.environ.get("LUMICRS_ARTIFACTS", REPO / "test-artifacts"))
SCREENSHOTS = os.environ.get("LUMICRS_SCREENSHOTS")  # e.g. docs/img: the README's pictures, taken by the tests
TIMEOUT = 30_000


def rerun_done(page: Any) -> None:
    """Wait out the rerun an action started: no element still marked stale, no running indicator (a key pressed
    while Streamlit swaps the page in would land on an element about to be replaced)."""
    from playwright.sync_api import expect

    expect(page.locator('[data-stale="true"]')).to_have_count(0, timeout=TIMEOUT)
    expect(page.get_by_test_id("stStatusWidgetRunningIcon")).to_have_count(0, timeout=TIMEOUT)


def keys_ready(page: Any) -> None:
    """Before the first shortcut on a page just loaded: the page's key helpers (annotator.ui_common.KEYS_JS) are
    installed and its rerun is over. A key pressed before the helpers run goes to the text field and is lost: what
    a fresh-clone CI run caught once, Alt+X pressed right after sign-in storing nothing."""
    page.wait_for_function("() => window.lumicrsKeys === true", timeout=TIMEOUT)
    rerun_done(page)


def make_account(name: str, role: str = "annotator") -> None:
    """An account made as a lead makes it (the first lead, root, made once)."""
    from db.queries.accounts import create_account

    factory = make_session_factory(make_engine(os.environ["LUMICRS_BROWSER_DB"]))
    with write_transaction(factory) as s:
        lead = s.scalar(select(Reviewer).where(Reviewer.role == "lead"))
        if lead is None:
            lead = create_account(s, "root", "lead", PASSWORD, by=None)
        if s.scalar(select(Reviewer).where(Reviewer.name == name)) is None:
            create_account(s, name, role, PASSWORD, by=lead)


def sign_in(page: Any, base: str, name: str = "bea", role: str = "annotator", path: str = "") -> None:
    """Create the account, then sign in through the sidebar form (at `path`, default `/`)."""
    from playwright.sync_api import expect

    make_account(name, role)
    page.goto(base + path)
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"Signed in as {name} ({role})")).to_be_visible(timeout=TIMEOUT)


def token_of(page: Any) -> str:
    return str(page.url.split("session=", 1)[1].split("&", 1)[0])


def shot(page: Any, name: str, *, docs: bool = False) -> None:
    """A screenshot in the test artifacts; with `docs`, also the README's picture when LUMICRS_SCREENSHOTS is set."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    if docs and SCREENSHOTS:
        folder = REPO / SCREENSHOTS
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"))


def in_view(locator: Any, height: int = 900) -> bool:
    """The element's whole box lies within the 1400x900 window (no scrolling needed)."""
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height
