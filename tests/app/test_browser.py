"""One real-browser test: headless Chromium reviews a candidate in the running app; the verdict is in the DB."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from db.engine import make_engine, make_session_factory
from db.models import Review, Reviewer
from tests.factories import make_review_queue

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def app_url(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[str, str]]:
    db_path = tmp_path / "browser.db"
    shutil.copy(sqlite_template, db_path)
    url = f"sqlite:///{db_path}"
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "streamlit_app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("streamlit did not start")
        yield base, url
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_reviewer_accepts_candidate_in_browser(app_url: tuple[str, str], tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium missing under CI")
        pytest.skip("chromium not installed")
    from playwright.sync_api import expect, sync_playwright

    base, db_url = app_url
    factory = make_session_factory(make_engine(db_url))
    with factory() as s:
        (task_id,) = make_review_queue(s, n=1)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(base)
        name = page.get_by_label("Your name")
        name.fill("bea")
        name.press("Enter")
        expect(page.get_by_text("Target: Tail Film (2011) (tail tier)")).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name="Accept")).to_be_visible(timeout=30_000)
        page.screenshot(path=str(tmp_path / "review.png"))
        page.get_by_role("button", name="Accept").click()
        expect(page.get_by_text(f"Saved: accept on task {task_id}.")).to_be_visible(timeout=30_000)
        page.screenshot(path=os.environ.get("LUMICRS_SCREENSHOT", str(tmp_path / "after.png")))
        browser.close()
    with factory() as s:
        review = s.scalars(select(Review)).one()
        assert review.verdict == "accept" and s.get_one(Reviewer, review.reviewer_id).name == "bea"
