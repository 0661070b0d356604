"""Every page in a real headless Chromium against the real seeded server.

Each test drives the page the way a person would (select, type, click) and checks what
htmx swapped in and what Chart.js drew (``window.datacatCharts``), then saves a
screenshot under ``test-artifacts/screenshots/`` (the ``open_page`` fixture takes one of
every tab a test opened). A script error or a dialog fails the test — so an ``alert``
smuggled in through logged data fails loudly. Expected answers come from the seed's
model (``webseed.expected_series``), not from numbers copied by hand.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from webseed import XSS, XSS_METRIC, XSS_STATE, Seeded, expected_series

pytestmark = pytest.mark.browser
WAIT_MS = 10_000
"""Longest wait for a swap or a live refresh (polls run every 3 s)."""


def chart_points(tab: Any, chart_id: str) -> int:
    return tab.evaluate(
        "id => { const c = window.datacatCharts[id]; return c ? c.data.datasets[0].data.length"
        " : -1; }",
        chart_id,
    )


def wait_chart_points(tab: Any, chart_id: str, count: int) -> None:
    tab.wait_for_function(
        "([id, n]) => window.datacatCharts && window.datacatCharts[id] &&"
        " window.datacatCharts[id].data.datasets[0].data.length === n",
        arg=[chart_id, count],
        timeout=WAIT_MS,
    )


def wait_settled(tab: Any) -> None:
    """Until htmx has no request in flight (it marks requesting elements)."""
    tab.wait_for_function(
        "() => !document.querySelector('.htmx-request')", timeout=WAIT_MS, polling=50
    )


def mark_page(tab: Any) -> None:
    """Set a flag a full page load would wipe: proves a change swapped only a fragment."""
    tab.evaluate("() => { window.__noReload = true; }")


def assert_not_reloaded(tab: Any) -> None:
    assert tab.evaluate("() => window.__noReload === true"), "the page reloaded"


def table_ids(tab: Any, selector: str = "#sessions") -> set[str]:
    hrefs = tab.eval_on_selector_all(
        f"{selector} tbody a[href^='/sessions/']", "links => links.map(a => a.getAttribute('href'))"
    )
    return {href.rsplit("/", 1)[1] for href in hrefs}


def ids_of(seeded: Seeded, *roles: str) -> set[str]:
    return {seeded.ids[role] for role in roles}


# -- session browser --------------------------------------------------------------------


def test_browser_filters_swap_only_the_table_and_follow_the_url(page: Any, seeded: Seeded) -> None:
    page.goto("/sessions")
    assert len(table_ids(page)) == 50
    mark_page(page)

    page.select_option("select[name=status]", "ended")
    page.wait_for_url("**/sessions?*status=ended*", timeout=WAIT_MS)
    wait_settled(page)
    assert table_ids(page) == ids_of(seeded, "p1", "p3", "s3")

    page.fill("input[name=product]", "svc-worker")
    page.wait_for_url("**product=svc-worker*", timeout=WAIT_MS)
    wait_settled(page)
    assert table_ids(page) == ids_of(seeded, "s3")
    page.fill("input[name=product]", "")
    page.select_option("select[name=status]", "")
    page.wait_for_url("**/sessions?*", timeout=WAIT_MS)

    page.fill("input[name=state_path]", "window_state.open")
    page.select_option("select[name=state_mode]", "contains")
    page.fill("input[name=state_value]", "space probe")
    page.wait_for_url("**state_value=space+probe*", timeout=WAIT_MS)
    wait_settled(page)
    assert table_ids(page) == ids_of(seeded, "p1", "p2")
    page.select_option("select[name=state_mode]", "ever")
    page.wait_for_url("**state_mode=ever*", timeout=WAIT_MS)
    wait_settled(page)
    assert table_ids(page) == ids_of(seeded, "p1", "p2", "p4")
    page.select_option("select[name=state_mode]", "current")
    page.fill("input[name=state_path]", "application.status")
    page.fill("input[name=state_value]", "running")
    page.wait_for_url("**state_value=running*", timeout=WAIT_MS)
    wait_settled(page)
    assert table_ids(page) == ids_of(seeded, "s1", "s2")
    assert_not_reloaded(page)

    # The URL holds the whole view: opening it afresh shows the same rows.
    page.goto(page.url)
    assert table_ids(page) == ids_of(seeded, "s1", "s2")
    assert page.input_value("input[name=state_value]") == "running"


def test_browser_time_range(page: Any, seeded: Seeded) -> None:
    split = seeded.after_probes.strftime("%Y-%m-%dT%H:%M:%S")
    page.goto("/sessions?product=probe-app")
    assert table_ids(page) == ids_of(seeded, "p1", "p2", "p3", "p4")
    page.fill("input[name=product]", "")
    page.fill("input[name=created_before]", split)
    page.wait_for_url("**created_before=*", timeout=WAIT_MS)
    wait_settled(page)
    assert table_ids(page) == ids_of(seeded, "p1", "p2", "p3", "p4")
    page.fill("input[name=created_before]", "")
    page.fill("input[name=created_after]", split)
    page.select_option("select[name=status]", "ended")
    page.wait_for_url("**status=ended*", timeout=WAIT_MS)
    wait_settled(page)
    assert table_ids(page) == ids_of(seeded, "s3")  # p1 and p3 ended too, but earlier


def test_browser_sorting_and_cursor_pages(page: Any, seeded: Seeded) -> None:
    page.goto("/sessions")
    first_page = table_ids(page)
    page.click("#next-page")
    page.wait_for_url("**cursor=*", timeout=WAIT_MS)
    wait_settled(page)
    second_page = table_ids(page)
    assert first_page.isdisjoint(second_page)
    assert len(first_page | second_page) >= len(seeded.ids) + len(seeded.fillers)
    assert page.locator("#next-page").count() == 0

    # Oldest first: the first probe session leads; the sort survives a filter change.
    page.goto("/sessions")
    page.click("a.sort[data-sort=created_at]")
    page.wait_for_url("**sort=created_at*", timeout=WAIT_MS)
    wait_settled(page)
    first_row = page.locator("#sessions tbody tr").first.locator("a").get_attribute("href")
    assert first_row == f"/sessions/{seeded.ids['p1']}"
    assert "▲" in page.locator("a.sort.active").inner_text()
    page.fill("input[name=product]", "svc-worker")
    page.wait_for_url("**product=svc-worker*", timeout=WAIT_MS)
    wait_settled(page)
    assert "sort=created_at" in page.url
    first_row = page.locator("#sessions tbody tr").first.locator("a").get_attribute("href")
    assert first_row == f"/sessions/{seeded.ids['s1']}"


# -- session detail ---------------------------------------------------------------------


def test_detail_page_parts(page: Any, seeded: Seeded) -> None:
    page.goto(f"/sessions/{seeded.ids['p4']}")
    assert page.get_by_test_id("session-id").inner_text() == seeded.ids["p4"]
    assert page.get_by_test_id("status").inner_text() == "crashed"
    assert page.get_by_test_id("product").inner_text() == "probe-app"
    assert page.locator("#timeline > ol > li").count() == 2
    assert page.locator("#state-tree details").first.get_attribute("open") is not None
    page.locator("#state-tree summary").first.click()  # the tree folds
    assert page.locator("#state-tree details").first.get_attribute("open") is None
    wait_chart_points(page, "chart-1", 2)
    assert page.locator("#live-poller").count() == 0  # finished: nothing polls

    traceback = page.locator("pre.traceback")
    assert not traceback.is_visible()
    page.locator(".exception-details > summary").click()
    assert traceback.is_visible()
    assert "RuntimeError: thruster failure" in traceback.inner_text()

    page.goto(f"/sessions/{seeded.ids['s2']}")
    assert page.locator("#events-table tbody tr").count() == 5
    mark_page(page)
    page.fill("#event-name", "tick")
    page.wait_for_function(
        "() => document.querySelectorAll('#events-table tbody tr').length === 3",
        timeout=WAIT_MS,
    )
    page.fill("#event-name", "no-such-event")
    page.get_by_text("No events named").wait_for(timeout=WAIT_MS)
    assert_not_reloaded(page)


def test_detail_live_refresh(page: Any, seeded: Seeded, http: httpx.Client) -> None:
    """A newly logged event, metric point and state patch appear without a reload.

    They carry timestamps two hours old, so the dashboard's last-hour counts (which other
    tests check against the seed) do not move.
    """
    sid = seeded.open_session(http, "live-demo")
    base = f"/api/sessions/{sid}"
    old = (datetime.now(timezone.utc) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    http.post(f"{base}/state", json={"phase": "warmup"})
    http.post(f"{base}/metrics", json={"name": "queue_depth", "value": 10, "timestamp": old})
    page.goto(f"/sessions/{sid}")
    wait_chart_points(page, "chart-1", 1)
    assert page.locator("#events-table").count() == 0
    mark_page(page)

    event = {"name": "newly_logged", "data": {"n": 1}, "timestamp": old}
    http.post(f"{base}/events", json=event)
    http.post(f"{base}/metrics", json={"name": "queue_depth", "value": 30, "timestamp": old})
    http.post(f"{base}/state", json={"phase": "running"})
    page.locator("#events-table .event-name", has_text="newly_logged").wait_for(timeout=WAIT_MS)
    wait_chart_points(page, "chart-1", 2)
    page.locator("#state-tree .str", has_text="running").wait_for(timeout=WAIT_MS)
    assert page.locator("#timeline > ol > li").count() == 2
    assert_not_reloaded(page)


# -- metrics explorer -------------------------------------------------------------------


def stats(tab: Any) -> tuple[str, ...]:
    return tuple(
        tab.get_by_test_id(name).inner_text()
        for name in ("sessions-matched", "peak", "average", "min", "points")
    )


def model(seeded: Seeded, name: str, *args: Any, **kwargs: Any) -> tuple[str, ...]:
    found = expected_series(list(seeded.specs.values()), name, *args, **kwargs)
    return found.sessions, found.peak, found.average, found.min, found.points


def test_explorer_examples_are_one_click(page: Any, seeded: Seeded) -> None:
    page.goto("/metrics")
    page.click("a[data-example='1']")
    wait_chart_points(page, "series-chart", 2)
    probe = ("peak", "contains", "window_state.open", "space probe")
    assert stats(page) == model(seeded, "memory_usage", *probe)
    assert stats(page)[:4] == ("2", "420", "335", "250")
    assert page.input_value("select[name=name]") == "memory_usage"

    page.goto("/metrics")
    page.click("a[data-example='2']")
    wait_chart_points(page, "series-chart", 5)
    running = ("all", "current", "application.status", "running")
    assert stats(page) == model(seeded, "cpu_usage", *running)


def test_explorer_every_control(page: Any, seeded: Seeded) -> None:
    def expect(name: str, *args: Any, **kwargs: Any) -> None:
        answer = model(seeded, name, *args, **kwargs)
        wait_chart_points(page, "series-chart", int(answer[4]))
        page.wait_for_function(
            "want => document.querySelector('[data-testid=peak]')?.textContent === want",
            arg=answer[1],
            timeout=WAIT_MS,
        )
        assert stats(page) == answer

    page.goto("/metrics")
    mark_page(page)
    page.select_option("select[name=name]", "memory_usage")
    expect("memory_usage")
    for aggregation in ("peak", "min", "avg"):
        page.select_option("select[name=aggregation]", aggregation)
        expect("memory_usage", aggregation)

    page.select_option("select[name=mode]", "ever")
    page.get_by_test_id("hint").wait_for(timeout=WAIT_MS)
    page.fill("input[name=path]", "window_state.open")
    page.fill("input[name=value]", "space probe")
    page.wait_for_url("**value=space+probe*", timeout=WAIT_MS)
    expect("memory_usage", "avg", "ever", "window_state.open", "space probe")
    page.select_option("select[name=mode]", "contains")
    expect("memory_usage", "avg", "contains", "window_state.open", "space probe")
    page.select_option("select[name=mode]", "current")
    page.fill("input[name=path]", "window_state.open.0")
    page.fill("input[name=value]", "main")
    page.wait_for_url("**path=window_state.open.0*", timeout=WAIT_MS)
    expect("memory_usage", "avg", "current", "window_state.open.0", "main")

    # Time range: split the cpu_usage points at s2's first one.
    split = next(t for n, _, t in seeded.specs["s2"].points if n == "cpu_usage")
    text = split.strftime("%Y-%m-%dT%H:%M:%S")
    page.select_option("select[name=mode]", "none")
    page.select_option("select[name=aggregation]", "all")
    page.select_option("select[name=name]", "cpu_usage")
    expect("cpu_usage")
    page.fill("input[name=since]", text)
    page.wait_for_url("**since=*", timeout=WAIT_MS)
    expect("cpu_usage", since=split)
    page.fill("input[name=since]", "")
    page.fill("input[name=until]", text)
    page.wait_for_url("**until=*", timeout=WAIT_MS)
    expect("cpu_usage", until=split)
    assert_not_reloaded(page)


# -- escaping and looks -----------------------------------------------------------------


def test_logged_html_shows_as_text_and_runs_nothing(page: Any, seeded: Seeded) -> None:
    page.goto(f"/sessions/{seeded.ids['xss']}")
    names = page.locator("#events-table .event-name").all_inner_texts()
    assert XSS in names
    assert page.get_by_test_id("product").inner_text() == XSS
    assert XSS_STATE in page.locator("#state-tree").inner_text()
    assert page.locator("#state-tree img, #events img, #session-head b").count() == 0
    assert page.locator("main script:not([type='application/json'])").count() == 0
    wait_chart_points(page, "chart-1", 2)

    page.goto("/metrics")
    page.select_option("select[name=name]", XSS_METRIC)
    wait_chart_points(page, "series-chart", 2)
    # open_page fails the test if a dialog opened or a script error happened.


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_in_both_themes(open_page: Any, seeded: Seeded, scheme: str) -> None:
    pages = {
        "dashboard": "/",
        "sessions": "/sessions",
        "session": f"/sessions/{seeded.ids['p4']}",
        "metrics": "/metrics?name=memory_usage&aggregation=peak&mode=contains"
        "&path=window_state.open&value=space+probe",
    }
    for name, path in pages.items():
        tab = open_page(color_scheme=scheme)
        tab.goto(path)
        tab.wait_for_load_state("networkidle")
        background = tab.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert (background == "rgb(21, 24, 28)") == (scheme == "dark"), (name, background)
        # Usable at 1280 px: nothing forces a horizontal scroll bar.
        assert tab.evaluate("() => document.documentElement.scrollWidth <= 1280"), name
