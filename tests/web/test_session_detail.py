"""Session detail in Chromium: header, state, timeline, events, charts, live refresh."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pagehelp import chart_points, texts
from webseed import Seeded

from support import eventually

pytestmark = pytest.mark.browser


def test_header_state_and_timeline(page: Any, seeded: Seeded) -> None:
    spec = seeded.specs["p4"]
    page.goto(f"/sessions/{seeded.ids['p4']}")
    assert page.get_by_test_id("session-id").inner_text() == seeded.ids["p4"]
    assert page.locator("[data-testid=status] .badge-crashed").inner_text() == "crashed"
    assert page.get_by_test_id("product").inner_text() == spec.product
    # The current state: "space probe" was closed again, so the tree shows only "main".
    tree = page.locator("#state-tree").inner_text()
    assert '"main"' in tree and "space probe" not in tree and "window_state" in tree
    # The timeline keeps both patches, oldest first, folded until opened.
    patches = page.locator("#timeline ol.timeline > li")
    assert patches.count() == len(spec.states)
    assert "space probe" not in patches.first.inner_text()
    assert "space probe" in patches.first.text_content()


def test_state_tree_folds(page: Any, seeded: Seeded) -> None:
    page.goto(f"/sessions/{seeded.ids['s1']}")
    leaf = page.locator("#state-tree .key", has_text="threads")
    assert leaf.is_visible()
    page.locator("#state-tree details > summary").first.click()
    assert not leaf.is_visible()


def test_events_filter_by_name(page: Any, seeded: Seeded) -> None:
    names = [name for name, _ in seeded.specs["s2"].events]
    page.goto(f"/sessions/{seeded.ids['s2']}")
    assert texts(page, "#events .event-name") == list(reversed(names))  # newest first
    page.fill("#event-name", "tick")
    eventually(lambda: texts(page, "#events .event-name"), ["tick"] * names.count("tick"))
    page.fill("#event-name", "no-such-event")
    none = "No events named “no-such-event”."
    eventually(lambda: page.locator("#events").inner_text().strip(), none)
    page.fill("#event-name", "")
    eventually(lambda: len(texts(page, "#events .event-name")), len(names))


def test_exception_traceback_on_expand(page: Any, seeded: Seeded) -> None:
    page.goto(f"/sessions/{seeded.ids['p4']}")
    row = page.locator("#events tr.exception")
    assert row.count() == 1
    assert "RuntimeError" in row.locator("details.exception-details > summary").inner_text()
    traceback = row.locator("pre.traceback")
    assert not traceback.is_visible()
    row.locator("details.exception-details > summary").click()
    assert traceback.is_visible()
    text = traceback.inner_text()
    assert 'File "probe.py", line 42, in launch' in text
    assert text.rstrip().endswith("RuntimeError: thruster failure")


def test_one_chart_per_metric(page: Any, seeded: Seeded) -> None:
    spec = seeded.specs["s1"]
    page.goto(f"/sessions/{seeded.ids['s1']}")
    names = sorted(spec.metrics)
    assert (
        page.eval_on_selector_all("figure[data-metric]", "els => els.map(e => e.dataset.metric)")
        == names
    )
    for index, name in enumerate(names, start=1):
        assert chart_points(page, f"chart-{index}") == len(spec.metrics[name])
        label = page.evaluate(f"window.datacatCharts['chart-{index}'].data.datasets[0].label")
        assert label == name


def test_live_refresh_shows_new_event(page: Any, seeded: Seeded, http: httpx.Client) -> None:
    """While a session is active the page polls; new events, state and metrics appear."""
    session_id = seeded.open_session(http, "live-detail")
    page.goto(f"/sessions/{session_id}")
    page.evaluate("window.notReloaded = true")
    assert page.locator("#events .event-name").count() == 0
    seeded.log_event(http, session_id, "live-ping")
    http.post(f"/api/sessions/{session_id}/state", json={"phase": "two"}).raise_for_status()
    seeded.log_metric(http, session_id, "load", 3)
    eventually(lambda: texts(page, "#events .event-name"), ["live-ping"], timeout=8)
    eventually(lambda: '"two"' in page.locator("#state-tree").inner_text(), True, timeout=8)
    eventually(lambda: chart_points(page, "chart-1"), 1, timeout=8)
    assert page.evaluate("window.notReloaded") is True
    # Once the session ends the page shows it, and stops polling.
    seeded.end_session(http, session_id)
    eventually(lambda: page.locator("[data-testid=status] .badge").inner_text(), "ended", 8)
