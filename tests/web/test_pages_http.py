"""The UI's pages over plain HTTP (no browser), against the seeded server of each backend.

They pin what the browser tests rely on without paying for Chromium, and run in
milliseconds, so a regression in a query or a template shows up here first: status
codes, fragments for htmx, the 404 page, errors shown instead of 500s, escaping in the
raw HTML (where a browser would already have parsed any injected tag away), and the seed
README's example queries answered as the data says.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from webseed import XSS, XSS_METRIC, XSS_STATE, Seeded, expected_series

HX = {"HX-Request": "true"}
PROBE_FILTER = "state_path=window_state.open&state_value=space+probe"
SPACE_PROBE = (
    "/metrics?name=memory_usage&aggregation=peak&mode=contains"
    "&path=window_state.open&value=space+probe"
)
RUNNING_CPU = (
    "/metrics?name=cpu_usage&aggregation=all&mode=current&path=application.status&value=running"
)
ASSETS = (
    "vendor/htmx.min.js",
    "vendor/chart.umd.min.js",
    "vendor/chartjs-adapter-date-fns.bundle.min.js",
    "app.js",
    "app.css",
)


@pytest.fixture(scope="module")
def web(http: httpx.Client, seeded: Seeded) -> httpx.Client:
    """The seeded server's client (taking ``seeded`` makes sure the data is there)."""
    return http


def _pages(seeded: Seeded) -> list[str]:
    return [
        "/",
        "/sessions",
        "/sessions?product=filler&sort=last_seen_at",
        f"/sessions/{seeded.ids['p4']}",
        "/metrics",
        SPACE_PROBE,
    ]


def stat(body: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}">([^<]*)<', body)
    assert match, f"no {testid} in the page"
    return match.group(1)


def chart_data(body: str, chart_id: str = "series-chart") -> dict[str, Any]:
    match = re.search(rf'<script type="application/json" id="{chart_id}-data">(.*?)</script>', body)
    assert match, f"no data for {chart_id}"
    return json.loads(match.group(1))


def session_ids(body: str) -> set[str]:
    return set(re.findall(r'href="/sessions/([0-9a-f-]{36})"', body))


def test_every_page_renders(web: httpx.Client, seeded: Seeded) -> None:
    for url in [*_pages(seeded), "/ui/dashboard"]:
        response = web.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith("text/html"), url
        assert re.fullmatch(r"app;dur=[\d.]+", response.headers["server-timing"]), url
    for url in _pages(seeded):
        assert web.get(url).text.lstrip().lower().startswith("<!doctype html>"), url


def test_static_assets_are_vendored(web: httpx.Client) -> None:
    """No CDN: every script and stylesheet the pages load comes from this server."""
    html = web.get("/").text
    for asset in ASSETS:
        assert f"/static/{asset}" in html, asset
    for asset in (*ASSETS, "favicon.svg"):
        assert web.get(f"/static/{asset}").status_code == 200, asset


def test_pages_link_no_cdn(web: httpx.Client, seeded: Seeded) -> None:
    for path in ("/", "/sessions", "/metrics", f"/sessions/{seeded.ids['p1']}"):
        assert not re.search(r'(src|href)="(https?:)?//', web.get(path).text), path
    assert "https://" not in web.get("/").text.split("<main>")[0]


def test_htmx_requests_get_fragments(web: httpx.Client, seeded: Seeded) -> None:
    session = seeded.ids["s2"]
    fragments = {
        "/ui/dashboard": 'data-testid="total"',
        "/sessions?status=hung": session,
        "/metrics?name=cpu_usage": 'data-testid="sessions-matched"',
        f"/ui/sessions/{session}/events?event_name=tick": 'class="event-name"',
        f"/ui/sessions/{session}/live": 'id="session-head"',
    }
    for url, marker in fragments.items():
        response = web.get(url, headers=HX)
        assert response.status_code == 200, url
        assert "<html" not in response.text.lower(), url
        assert "<body" not in response.text.lower(), url
        assert marker in response.text, url
        assert "HX-Request" in response.headers.get("vary", ""), url


def test_session_page_and_its_partials(web: httpx.Client, seeded: Seeded) -> None:
    sid = seeded.ids["p2"]
    page = web.get(f"/sessions/{sid}")
    assert page.status_code == 200
    assert sid in page.text and "probe-app" in page.text
    assert len(chart_data(page.text, "chart-1")["points"]) == 3
    events = web.get(f"/ui/sessions/{sid}/events", headers=HX)
    assert events.status_code == 200 and "<html" not in events.text
    live = web.get(f"/ui/sessions/{sid}/live", headers=HX)
    assert live.status_code == 200  # active: keep polling
    assert 'id="session-head" hx-swap-oob="true"' in live.text


def test_live_poll_stops_once_the_session_has_ended(web: httpx.Client, seeded: Seeded) -> None:
    """htmx stops an ``every`` poll on 286; an ended session's page has no poller at all."""
    for role in ("p1", "p4"):  # ended; crashed by a fatal exception event
        response = web.get(f"/ui/sessions/{seeded.ids[role]}/live", headers=HX)
        assert response.status_code == 286, role
    assert "live-poller" not in web.get(f"/sessions/{seeded.ids['p1']}").text
    assert "live-poller" in web.get(f"/sessions/{seeded.ids['s1']}").text


@pytest.mark.parametrize("role", ["s1", "p2"])
def test_live_poll_resends_state_only_when_it_changed(
    web: httpx.Client, seeded: Seeded, role: str
) -> None:
    """A folded state tree stays folded: the tree is re-sent only if the state differs."""
    session = seeded.ids[role]
    html = web.get(f"/sessions/{session}").text
    digest = re.search(r'id="state-digest" name="known" value="(\w+)"', html)
    assert digest
    live = f"/ui/sessions/{session}/live"
    same = web.get(live, params={"known": digest.group(1)}, headers=HX).text
    assert 'id="state"' not in same and 'id="state-tree"' not in same
    assert 'id="events"' in same
    stale = web.get(live, params={"known": "0"}, headers=HX).text
    assert 'id="state" hx-swap-oob="true"' in stale and 'id="state-tree"' in stale


def test_history_restore_gets_the_whole_page(web: httpx.Client) -> None:
    """The back button after swaps asks with HX-History-Restore-Request: it needs a page."""
    headers = {**HX, "HX-History-Restore-Request": "true"}
    assert "<html" in web.get("/sessions?status=ended", headers=headers).text


def test_unknown_session_is_a_404_page(web: httpx.Client) -> None:
    response = web.get("/sessions/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert "<html" in response.text and "No such session" in response.text
    assert web.get("/ui/sessions/nope/events", headers=HX).status_code == 404


@pytest.mark.parametrize(
    ("url", "htmx_status"),
    [
        ("/sessions?status=sleeping", None),
        ("/sessions?created_after=yesterday", 422),
        ("/sessions?created_before=2026-13-45T99:00", None),
        ("/sessions?state_path=a..b&state_value=x", 422),
        ('/sessions?state_path=a"b&state_value=x', None),
        ("/sessions?state_path=a&state_value=x&state_mode=sometimes", None),
        ("/sessions?cursor=not-a-cursor", 422),
        ("/sessions?product=%00", None),
        ("/metrics?name=cpu_usage&since=tomorrow", None),
        ("/metrics?name=cpu_usage&mode=current&path=a..b&value=x", None),
        ("/metrics?name=%00", None),
    ],
)
def test_bad_filters_show_an_error(web: httpx.Client, url: str, htmx_status: int | None) -> None:
    """A message where the results would be, never a 500 (``htmx_status``: pinned exactly)."""
    for headers in ({}, HX):
        response = web.get(url, headers=headers)
        assert response.status_code in (200, 422), (url, response.status_code)
        assert 'role="alert"' in response.text, url
    if htmx_status is not None:
        assert web.get(url, headers=HX).status_code == htmx_status


@pytest.mark.parametrize(
    "url", ["/metrics?aggregation=median", "/metrics?mode=sometimes", "/metrics?name=" + "x" * 300]
)
def test_invalid_explorer_parameters_are_rejected(web: httpx.Client, url: str) -> None:
    """Values no form control can produce: a 422, never a 500."""
    assert web.get(url).status_code == 422


def test_user_values_are_escaped(web: httpx.Client, seeded: Seeded) -> None:
    xss = seeded.ids["xss"]
    detail = web.get(f"/sessions/{xss}").text
    pages = [
        detail,
        web.get("/sessions?product=" + quote(XSS)).text,
        web.get("/sessions?product=" + quote(XSS), headers=HX).text,
        web.get(f"/ui/sessions/{xss}/live", headers=HX).text,
    ]
    for html in pages:
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script>alert" not in html
    for raw in (XSS, XSS_STATE, XSS_METRIC, "<b>0.0.1</b>", "<img src=x", "</script><script>"):
        assert raw not in detail, raw
    assert "&lt;img src=x onerror=alert(1)&gt;" in detail
    assert "&lt;b&gt;0.0.1&lt;/b&gt;" in detail
    # The metric's name reaches the chart as JSON with <, > escaped: it cannot end the script.
    assert chart_data(detail, "chart-1")["name"] == XSS_METRIC
    assert "\\u003c/script\\u003e\\u003cscript\\u003ealert(2)" in detail
    sessions = web.get("/sessions", params={"product": XSS}).text
    assert session_ids(sessions) == {xss}
    assert XSS not in sessions.split("<main>", 1)[1]
    for explorer in (web.get("/metrics").text, web.get("/metrics?name=" + quote(XSS_METRIC)).text):
        assert "</script><script>alert(2)" not in explorer
        assert "&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in explorer


def test_empty_states_say_what_to_do(web: httpx.Client) -> None:
    html = web.get("/sessions?product=nobody-uses-this").text
    assert "No sessions match these filters" in html
    long_ago = "/metrics?name=cpu_usage&since=2001-01-01T00:00&until=2001-01-02T00:00"
    assert "No points match" in web.get(long_ago).text


def expected(seeded: Seeded, name: str, *args: str) -> tuple[str, str, str, str]:
    stats = expected_series(list(seeded.specs.values()), name, *args)
    return stats.sessions, stats.peak, stats.average, stats.min


def shown(body: str) -> tuple[str, str, str, str]:
    peak, average, low = (stat(body, name) for name in ("peak", "average", "min"))
    return stat(body, "sessions-matched"), peak, average, low


def test_seed_example_space_probe_peak_memory(web: httpx.Client, seeded: Seeded) -> None:
    body = web.get(SPACE_PROBE, headers=HX).text
    assert "<html" not in body  # htmx gets the fragment only
    assert shown(body) == ("2", "420", "335", "250")
    query = ("peak", "contains", "window_state.open", "space probe")
    assert shown(body) == expected(seeded, "memory_usage", *query)
    points = chart_data(body)["points"]
    assert sorted(p["v"] for p in points) == [250, 420]
    assert {p["s"] for p in points} == {seeded.ids["p1"], seeded.ids["p2"]}


def test_seed_example_cpu_of_running_applications(web: httpx.Client, seeded: Seeded) -> None:
    body = web.get(RUNNING_CPU).text
    assert "<html" in body  # the same URL without htmx is the whole page
    query = ("all", "current", "application.status", "running")
    assert shown(body) == expected(seeded, "cpu_usage", *query)
    assert stat(body, "sessions-matched") == "2"
    points = chart_data(body)["points"]
    assert [p["v"] for p in points] == [10, 20, 30, 40, 55]  # oldest first
    assert {p["s"] for p in points} == {seeded.ids["s1"], seeded.ids["s2"]}


def test_explorer_ever_mode_finds_a_window_closed_since(web: httpx.Client, seeded: Seeded) -> None:
    body = web.get(SPACE_PROBE.replace("mode=contains", "mode=ever"), headers=HX).text
    assert stat(body, "sessions-matched") == "3"
    assert stat(body, "peak") == "700"
    query = ("peak", "ever", "window_state.open", "space probe")
    assert shown(body) == expected(seeded, "memory_usage", *query)
    assert {p["s"] for p in chart_data(body)["points"]} == {
        seeded.ids[role] for role in ("p1", "p2", "p4")
    }


def test_explorer_half_filter_is_not_applied(web: httpx.Client) -> None:
    body = web.get("/metrics?name=memory_usage&mode=current&path=window_state.open").text
    assert "Enter both a state path and a value" in body
    assert stat(body, "sessions-matched") == "4"


@pytest.mark.parametrize(
    ("query", "roles"),
    [
        (f"{PROBE_FILTER}&state_mode=contains", {"p1", "p2"}),
        (f"{PROBE_FILTER}&state_mode=ever", {"p1", "p2", "p4"}),
        ("state_path=application.status&state_value=running&state_mode=current", {"s1", "s2"}),
        ("status=crashed", {"p4"}),
        ("status=hung", {"s2"}),
        ("status=abandoned", {"ghost"}),
        ("product=svc-worker&status=ended", {"s3"}),
    ],
)
def test_browser_filters_run_in_sql(
    web: httpx.Client, seeded: Seeded, query: str, roles: set[str]
) -> None:
    body = web.get(f"/sessions?{query}", headers=HX).text
    assert "<html" not in body
    assert session_ids(body) == {seeded.ids[role] for role in roles}
