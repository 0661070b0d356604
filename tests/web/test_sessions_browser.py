"""Session browser in Chromium: every filter narrows the table to exactly the right sessions.

Each filter is used through the form (htmx swaps only the table), then the pushed URL is
reloaded to prove a shared link shows the same rows.
"""

from __future__ import annotations

from typing import Any

import pytest
from pagehelp import local_input, query_of, session_ids
from webseed import Seeded, expected_keys

from support import eventually

pytestmark = pytest.mark.browser


def _ids(seeded: Seeded, *keys: str) -> set[str]:
    return {seeded.ids[key] for key in keys}


def _shows(page: Any, expected: set[str]) -> None:
    eventually(lambda: set(session_ids(page)), expected)


def _check_shared_url(page: Any, expected: set[str], params: dict[str, str]) -> None:
    """The URL carries the filters, and loading it afresh gives the same rows."""
    eventually(lambda: {k: v for k, v in query_of(page).items() if k in params}, params)
    marker = page.evaluate("window.swappedOnly = true")
    assert marker is True
    page.reload()
    assert page.evaluate("window.swappedOnly") is None, "reload did not reload"
    assert set(session_ids(page)) == expected


def test_status_filter(page: Any, seeded: Seeded) -> None:
    page.goto("/sessions")
    page.evaluate("window.swappedOnly = true")
    for status, keys in (("hung", {"s2"}), ("crashed", {"p4"}), ("abandoned", {"ghost"})):
        page.select_option("#filters select[name=status]", status)
        _shows(page, _ids(seeded, *keys))
    ended = _ids(seeded, "p1", "p3", "s3") | set(seeded.ended_by_tests)
    page.select_option("#filters select[name=status]", "ended")
    _shows(page, ended)
    assert page.evaluate("window.swappedOnly") is True, "a filter change reloaded the page"
    assert all(b == "ended" for b in page.locator("#sessions tbody .badge").all_inner_texts())
    _check_shared_url(page, ended, {"status": "ended"})


def test_product_filter(page: Any, seeded: Seeded) -> None:
    page.goto("/sessions")
    page.fill("#filters input[name=product]", "svc-worker")
    _shows(page, _ids(seeded, "s1", "s2", "s3"))
    # Newest first by default.
    assert session_ids(page) == [seeded.ids[k] for k in ("s3", "s2", "s1")]
    _check_shared_url(page, _ids(seeded, "s1", "s2", "s3"), {"product": "svc-worker"})


def test_time_range_filter(page: Any, seeded: Seeded) -> None:
    page.goto("/sessions")
    page.fill("#filters input[name=created_before]", local_input(seeded.after_probes))
    _shows(page, _ids(seeded, "p1", "p2", "p3", "p4"))
    page.fill("#filters input[name=created_after]", local_input(seeded.after_probes))
    page.fill("#filters input[name=created_before]", local_input(seeded.after_services))
    services = _ids(seeded, "s1", "s2", "s3")
    _shows(page, services)
    after = local_input(seeded.after_probes)
    before = local_input(seeded.after_services)
    eventually(lambda: query_of(page).get("created_before", "")[:16], before[:16])
    assert query_of(page)["created_after"][:16] == after[:16]
    page.reload()
    assert set(session_ids(page)) == services


@pytest.mark.parametrize(
    ("mode", "path", "value"),
    [
        ("current", "application.status", "running"),
        ("ever", "application.status", "running"),
        ("current", "application.status", "stopped"),
        ("contains", "window_state.open", "space probe"),
        ("ever", "window_state.open", "space probe"),
        ("contains", "window_state.open", "main"),
        ("current", "html", "<img src=x onerror=alert(1)>"),
    ],
)
def test_state_filter(page: Any, seeded: Seeded, mode: str, path: str, value: str) -> None:
    """current = the value now; contains = in the array now; ever = at some point."""
    expected = {
        seeded.ids[key] for key in expected_keys(list(seeded.specs.values()), mode, path, value)
    }
    assert expected, "every case here matches something"
    page.goto("/sessions")
    page.select_option("#filters select[name=state_mode]", mode)
    page.fill("#filters input[name=state_path]", path)
    page.fill("#filters input[name=state_value]", value)
    _shows(page, expected)
    params = {"state_path": path, "state_value": value, "state_mode": mode}
    _check_shared_url(page, expected, params)


def test_ever_and_contains_differ_on_a_closed_window(seeded: Seeded) -> None:
    """The data set really tells the modes apart (p4 had "space probe" open, then closed it)."""
    specs = list(seeded.specs.values())
    contains = expected_keys(specs, "contains", "window_state.open", "space probe")
    ever = expected_keys(specs, "ever", "window_state.open", "space probe")
    assert contains == {"p1", "p2"}
    assert ever == {"p1", "p2", "p4"}


def test_sorting_toggles_order(page: Any, seeded: Seeded) -> None:
    page.goto("/sessions?product=filler")
    newest_first = list(reversed(seeded.fillers))[:50]
    assert session_ids(page) == newest_first
    page.click("a.sort[data-sort=created_at]")
    eventually(lambda: session_ids(page), seeded.fillers[:50])
    assert query_of(page)["sort"] == "created_at"
    page.click("a.sort[data-sort=created_at]")
    eventually(lambda: session_ids(page), newest_first)
    page.click("a.sort[data-sort=last_seen_at]")
    # The oldest filler got a heartbeat last, so it leads when sorted by last seen.
    expected = [seeded.fillers[0], *newest_first[:49]]
    eventually(lambda: session_ids(page), expected)
    page.reload()
    assert session_ids(page) == expected


def test_sort_survives_a_filter_change(page: Any, seeded: Seeded) -> None:
    page.goto("/sessions?product=svc-worker&sort=created_at")
    oldest_first = [seeded.ids[k] for k in ("s1", "s2", "s3")]
    assert session_ids(page) == oldest_first
    page.select_option("#filters select[name=status]", "ended")
    eventually(lambda: session_ids(page), [seeded.ids["s3"]])
    page.select_option("#filters select[name=status]", "")
    eventually(lambda: session_ids(page), oldest_first)
    assert query_of(page).get("sort") == "created_at"


def test_next_page(page: Any, seeded: Seeded) -> None:
    page.goto("/sessions?product=filler")
    first = session_ids(page)
    assert len(first) == 50
    page.click("#next-page")
    eventually(lambda: len(session_ids(page)), 10)
    second = session_ids(page)
    assert first + second == list(reversed(seeded.fillers))
    assert "cursor" in query_of(page)
    assert page.locator("#next-page").count() == 0
    page.reload()
    assert session_ids(page) == second
    page.click("#first-page")
    eventually(lambda: session_ids(page), first)
