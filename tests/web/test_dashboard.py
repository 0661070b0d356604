"""Dashboard in Chromium: the counts are the seeded statuses, and it refreshes by itself."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from webseed import Seeded

from support import eventually

pytestmark = pytest.mark.browser
STATUSES = ("active", "ended", "hung", "crashed", "abandoned")


def _rate(part: int, whole: int) -> str:
    return f"{100 * (whole - part) / whole:.1f}%"


def test_counts_match_seeded_statuses(page: Any, seeded: Seeded) -> None:
    page.goto("/")
    counts = seeded.status_counts()
    total = sum(counts.values())
    shown = {s: page.get_by_test_id(f"count-{s}").inner_text() for s in STATUSES}
    assert shown == {s: str(counts[s]) for s in STATUSES}
    assert page.get_by_test_id("total").inner_text() == str(total)
    assert page.get_by_test_id("crash-free").inner_text() == _rate(counts["crashed"], total)
    assert page.get_by_test_id("hang-free").inner_text() == _rate(counts["hung"], total)
    assert page.get_by_test_id("events-hour").inner_text() == str(seeded.seeded_events())
    assert page.get_by_test_id("metrics-hour").inner_text() == str(seeded.seeded_points())
    assert page.locator("#recent-sessions tbody tr").count() == 10


def test_refreshes_without_reload(page: Any, seeded: Seeded, http: httpx.Client) -> None:
    """A new session and event show up within 8 s, and the page was never reloaded."""
    page.goto("/")
    page.evaluate("window.notReloaded = true")
    total = int(page.get_by_test_id("total").inner_text())
    events = int(page.get_by_test_id("events-hour").inner_text())
    session_id = seeded.open_session(http, "live-dashboard")
    seeded.log_event(http, session_id, "dashboard-ping")

    def read() -> tuple[str, str]:
        return (
            page.get_by_test_id("total").inner_text(),
            page.get_by_test_id("events-hour").inner_text(),
        )

    eventually(read, (str(total + 1), str(events + 1)), timeout=8)
    assert page.evaluate("window.notReloaded") is True
    assert page.locator(f'#recent-sessions a[href="/sessions/{session_id}"]').count() == 1
