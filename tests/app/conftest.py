"""The real app in a real browser: a Streamlit server on a free port over a fresh SQLite file, and headless Chromium
at 1400x900 (Playwright driving Debian's chromium)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_session_factory

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 900}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class App:
    base: str
    db_url: str
    factory: sessionmaker[Session]
    process: subprocess.Popen[bytes]


def start_app(sqlite_template: Path, folder: Path, env: dict[str, str] | None = None) -> App:
    db_path = folder / "browser.db"
    shutil.copy(sqlite_template, db_path)
    url = f"sqlite:///{db_path}"
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "streamlit_app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env={**os.environ, "DATABASE_URL": url, "LUMICRS_EXPORT_DIR": str(folder / "exports"),
                       **(env or {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{base}/_stcore/health", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    else:
        process.terminate()
        pytest.fail("streamlit did not start")
    os.environ["LUMICRS_BROWSER_DB"] = url
    return App(base, url, make_session_factory(make_engine(url)), process)


@pytest.fixture
def app_factory(sqlite_template: Path, tmp_path: Path) -> Iterator[Callable[..., App]]:
    """start(env) -> a running app; every app started is stopped after the test."""
    started: list[App] = []

    def start(env: dict[str, str] | None = None) -> App:
        app = start_app(sqlite_template, tmp_path, env)
        started.append(app)
        return app

    yield start
    for app in started:
        app.process.terminate()
        app.process.wait(timeout=20)


@pytest.fixture
def app_url(app_factory: Callable[..., App]) -> tuple[str, str]:
    app = app_factory()
    return app.base, app.db_url


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium missing under CI")
        pytest.skip("chromium not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(browser: Any) -> Any:
    return browser.new_page(viewport=VIEWPORT)
