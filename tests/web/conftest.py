"""Fixtures for the web UI: a real ``datacat serve`` per backend seeded over HTTP, and Chromium.

Every HTTP-level web test runs on SQLite and on PostgreSQL: one server per backend, on a
database of its own (a throwaway one on PostgreSQL), seeded once (seeding is the slow
part). The browser tests run in full on SQLite and, on PostgreSQL, only those in
``POSTGRESQL_BROWSER_TESTS`` — at least one per page, chosen where the database does the
work (counts, time ranges, paging, state history); the rest are deselected there. Running
all of them twice added about 110 s to a run on this 2-core machine (the budget was
~60 s), and what the others check is the browser's side (htmx swaps, folding, layout),
which no database changes.

The parameter is ``web_backend``, not the root conftest's ``backend``: pytest orders a
whole run by session-scoped parameters, so sharing ``backend`` would start the browser in
the middle of the SQLite API tests, and Playwright's sync API keeps an event loop running
on the main thread, which every async fixture and test after it would trip over.

Each browser test gets a fresh context, so cookies, history and viewport never leak
between tests. A page that throws, pops a dialog (an alert means injected script ran) or
gets a 5xx fails the test that opened it, and every page is screenshotted. A missing
Chromium fails the browser tests: a skip would pass a run that never looked at a page.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from webseed import Seeded, seed

from support import BACKENDS, eventually, serve, throwaway_database

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_FALLBACK = "/usr/bin/chromium"
POSTGRESQL_BROWSER_TESTS = {
    "test_dashboard.py::test_counts_match_seeded_statuses",
    "test_sessions_browser.py::test_time_range_filter",
    "test_sessions_browser.py::test_next_page",
    "test_session_detail.py::test_header_state_and_timeline",
    "test_session_detail.py::test_events_filter_by_name",
    "test_metrics_explorer.py::test_example_1_peak_memory_with_space_probe_open",
    "test_metrics_explorer.py::test_time_range",
    "test_look_and_safety.py::test_logged_html_shows_as_text",
}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the browser tests that do not run on PostgreSQL (see the module docstring)."""
    here = Path(__file__).parent

    def skipped_on_postgresql(item: pytest.Item) -> bool:
        callspec = getattr(item, "callspec", None)
        return (
            item.path.parent == here
            and item.get_closest_marker("browser") is not None
            and callspec is not None
            and callspec.params.get("web_backend") == "postgresql"
            and f"{item.path.name}::{getattr(item, 'originalname', item.name)}"
            not in POSTGRESQL_BROWSER_TESTS
        )

    dropped = [item for item in items if skipped_on_postgresql(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not skipped_on_postgresql(item)]


@pytest.fixture(scope="session", params=BACKENDS)
def web_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def server_url(web_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server process; its sweeper runs often so the silent session turns abandoned.

    The database is the web suite's alone: the dashboard's totals must count only the
    seeded sessions, never those the API tests make on the shared one.
    """
    env = {"DATACAT_SWEEP_INTERVAL_S": "0.2"}
    if web_backend == "sqlite":
        db = tmp_path_factory.mktemp("web") / "web.db"
        with serve(f"sqlite+aiosqlite:///{db}", env=env) as url:
            yield url
        return
    with throwaway_database("datacat_web") as database, serve(database, env=env) as url:
        yield url


@pytest.fixture(scope="session")
def http(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def seeded(http: httpx.Client) -> Seeded:
    data = seed(http)
    ghost = f"/api/sessions/{data.ids['ghost']}"
    eventually(lambda: http.get(ghost).json()["status"], "abandoned", timeout=10)
    return data


def chromium() -> str:
    """Chromium as the Makefile finds it: on PATH, else Debian's /usr/bin/chromium."""
    found = shutil.which("chromium")
    if found is None and os.access(CHROMIUM_FALLBACK, os.X_OK):
        found = CHROMIUM_FALLBACK
    if found is None:
        pytest.fail(
            f"no Chromium (neither `chromium` on PATH nor {CHROMIUM_FALLBACK}): "
            "`make test` installs it (apt-get install chromium)",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """The system Chromium, headless; never a downloaded one."""
    executable = chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
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
