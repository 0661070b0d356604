"""Fixtures for the web UI: one real uvicorn process, seeded over HTTP, and a real Chromium.

The server is the production app (``uvicorn datacat.app:app``) on a throwaway SQLite
file, started once for the whole web run; the browser is the system Chromium, launched
headless through Playwright — never a downloaded one.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from webdata import Seeded, seed

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server process; its sweeper runs often so a silent session turns abandoned."""
    db = tmp_path_factory.mktemp("web") / "web.db"
    port = _free_port()
    env = {
        **os.environ,
        "DATACAT_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "DATACAT_SWEEP_INTERVAL_S": "0.2",
    }
    log = (db.parent / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "datacat.app:app", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start; see {log.name}")
            time.sleep(0.05)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def http(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def seeded(http: httpx.Client) -> Seeded:
    data = seed(http)
    # The silent session's 0.2 s heartbeat timeout lapses; the sweeper marks it abandoned.
    deadline = time.monotonic() + 10
    while http.get(f"/api/sessions/{data.ids['gone']}").json()["status"] != "abandoned":
        assert time.monotonic() < deadline, "sweeper never marked the silent session"
        time.sleep(0.1)
    return data


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """The system Chromium (``/usr/bin/chromium``); tests skip if it is not installed."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.skip("no system Chromium (apt-get install chromium; `make test` does it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any, server_url: str, seeded: Seeded) -> Iterator[Any]:
    """A fresh tab at laptop width, UTC clock, failing the test on any script error."""
    context = chromium.new_context(
        base_url=server_url, viewport={"width": 1280, "height": 900}, timezone_id="UTC"
    )
    tab = context.new_page()
    errors: list[str] = []
    dialogs: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    tab.script_errors = errors
    tab.dialogs = dialogs
    yield tab
    context.close()
    assert not dialogs, f"a page opened a dialog (script ran): {dialogs}"
    assert not errors, f"script errors on the page: {errors}"


@pytest.fixture(scope="session")
def screenshot() -> Callable[[Any, str], None]:
    """Saves what a test saw as test-artifacts/screenshots/<name>.png (gitignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(tab: Any, name: str) -> None:
        tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return save
