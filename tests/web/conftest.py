"""Fixtures for the web UI: one real ``datacat serve`` seeded over HTTP, and the system Chromium.

The server and the data are made once for the whole web run (seeding is the slow part);
each browser test gets a fresh context, so cookies, history and viewport never leak
between tests. A page that throws, pops a dialog (an alert means injected script ran)
or gets a 5xx fails the test that opened it, and every page is screenshotted.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from webseed import Seeded, seed

from support import serve

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server process; its sweeper runs often so the silent session turns abandoned."""
    db = tmp_path_factory.mktemp("web") / "web.db"
    env = pytest.MonkeyPatch()
    env.setenv("DATACAT_SWEEP_INTERVAL_S", "0.2")
    try:
        with serve(f"sqlite+aiosqlite:///{db}") as url:
            env.undo()  # the child has its copy; the rest of the run keeps the old value
            yield url
    finally:
        env.undo()


@pytest.fixture(scope="session")
def http(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def seeded(http: httpx.Client) -> Seeded:
    data = seed(http)
    deadline = time.monotonic() + 10
    ghost = data.ids["ghost"]
    while http.get(f"/api/sessions/{ghost}").json()["status"] != "abandoned":
        assert time.monotonic() < deadline, "the sweeper never marked the silent session"
        time.sleep(0.1)
    return data


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """The system Chromium, headless; never a downloaded one."""
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (apt-get install chromium; `make test` does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


class Problems:
    """What went wrong in a test's pages: script errors, dialogs, server errors."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def watch(self, tab: Any) -> None:
        tab.on("pageerror", lambda exc: self.items.append(f"page error: {exc}"))
        tab.on("dialog", self._dialog)
        tab.on(
            "response",
            lambda r: r.status >= 500 and self.items.append(f"{r.status} from {r.url}"),
        )

    def _dialog(self, dialog: Any) -> None:
        self.items.append(f"dialog ({dialog.type}): {dialog.message}")
        dialog.dismiss()


@pytest.fixture
def open_page(
    browser: Any, server_url: str, seeded: Seeded, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Any]]:
    """Opens tabs (1280x800, UTC) in fresh contexts; screenshots each one at the end."""
    problems = Problems()
    request.node.web_problems = problems
    opened: list[tuple[Any, Any]] = []

    def make(**options: Any) -> Any:
        settings = {
            "base_url": server_url,
            "viewport": {"width": 1280, "height": 800},
            "timezone_id": "UTC",
            **options,
        }
        context = browser.new_context(**settings)
        context.set_default_timeout(10_000)
        tab = context.new_page()
        problems.watch(tab)
        opened.append((context, tab))
        return tab

    yield make
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", request.node.name).strip("_")
    for index, (context, tab) in enumerate(opened):
        suffix = "" if index == 0 else f"-{index + 1}"
        try:
            tab.screenshot(path=str(SCREENSHOTS / f"{name}{suffix}.png"), full_page=True)
        finally:
            context.close()


@pytest.fixture
def page(open_page: Callable[..., Any]) -> Any:
    return open_page()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail the test itself (not its teardown) when one of its pages misbehaved."""
    result = yield
    problems: Problems | None = getattr(item, "web_problems", None)
    if problems is not None and problems.items:
        raise AssertionError("the page misbehaved:\n" + "\n".join(problems.items))
    return result
