"""The web pages over plain HTTP against the same seeded server: fast checks, no browser.

They pin what the browser tests rely on without paying for Chromium: status codes,
fragments for htmx, the 404 page, errors shown instead of 500s, and escaping in the raw
HTML (where a browser would already have parsed any injected tag away).
"""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
import pytest
from webseed import XSS, XSS_METRIC, XSS_STATE, Seeded

HX = {"HX-Request": "true"}


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
        "/metrics?name=memory_usage&aggregation=peak&mode=contains"
        "&path=window_state.open&value=space+probe",
    ]


def test_every_page_renders(web: httpx.Client, seeded: Seeded) -> None:
    for url in _pages(seeded):
        response = web.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith("text/html"), url
        assert response.text.lstrip().lower().startswith("<!doctype html>"), url
        assert "Server-Timing" in response.headers, url


def test_static_assets_are_vendored(web: httpx.Client) -> None:
    """No CDN: every script and stylesheet the pages load comes from this server."""
    html = web.get("/").text
    for asset in (
        "vendor/htmx.min.js",
        "vendor/chart.umd.min.js",
        "vendor/chartjs-adapter-date-fns.bundle.min.js",
        "app.js",
        "app.css",
    ):
        assert f"/static/{asset}" in html
        assert web.get(f"/static/{asset}").status_code == 200, asset
    assert "https://" not in html.split("<main>")[0]


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


def test_live_poll_stops_once_the_session_has_ended(web: httpx.Client, seeded: Seeded) -> None:
    """htmx stops an ``every`` poll on 286; an ended session's page has no poller at all."""
    ended = seeded.ids["p1"]
    assert web.get(f"/ui/sessions/{ended}/live", headers=HX).status_code == 286
    assert "live-poller" not in web.get(f"/sessions/{ended}").text
    assert "live-poller" in web.get(f"/sessions/{seeded.ids['s1']}").text


def test_live_poll_resends_state_only_when_it_changed(web: httpx.Client, seeded: Seeded) -> None:
    """A folded state tree stays folded: the tree is re-sent only if the state differs."""
    session = seeded.ids["s1"]
    html = web.get(f"/sessions/{session}").text
    digest = re.search(r'id="state-digest" name="known" value="(\w+)"', html)
    assert digest
    live = f"/ui/sessions/{session}/live"
    same = web.get(live, params={"known": digest.group(1)}, headers=HX).text
    assert 'id="state-tree"' not in same and 'id="events"' in same
    stale = web.get(live, params={"known": "0"}, headers=HX).text
    assert 'id="state-tree"' in stale


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
    "url",
    [
        "/sessions?status=sleeping",
        "/sessions?created_after=yesterday",
        "/sessions?created_before=2026-13-45T99:00",
        "/sessions?state_path=a..b&state_value=x",
        '/sessions?state_path=a"b&state_value=x',
        "/sessions?state_path=a&state_value=x&state_mode=sometimes",
        "/sessions?cursor=not-a-cursor",
        "/sessions?product=%00",
        "/metrics?name=cpu_usage&since=tomorrow",
        "/metrics?name=cpu_usage&mode=current&path=a..b&value=x",
        "/metrics?name=%00",
    ],
)
def test_bad_filters_show_an_error(web: httpx.Client, url: str) -> None:
    for headers in ({}, HX):
        response = web.get(url, headers=headers)
        assert response.status_code in (200, 422), (url, response.status_code)
        assert 'role="alert"' in response.text, url


@pytest.mark.parametrize(
    "url", ["/metrics?aggregation=median", "/metrics?mode=sometimes", "/metrics?name=" + "x" * 300]
)
def test_invalid_explorer_parameters_are_rejected(web: httpx.Client, url: str) -> None:
    """Values no form control can produce: a 422, never a 500."""
    assert web.get(url).status_code == 422


def test_raw_html_is_escaped(web: httpx.Client, seeded: Seeded) -> None:
    pages = [
        web.get(f"/sessions/{seeded.ids['xss']}").text,
        web.get("/sessions?product=" + quote(XSS)).text,
        web.get("/sessions?product=" + quote(XSS), headers=HX).text,
        web.get(f"/ui/sessions/{seeded.ids['xss']}/live", headers=HX).text,
    ]
    for html in pages:
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script>alert" not in html
    detail = pages[0]
    assert "&lt;img src=x onerror=alert(1)&gt;" in detail
    assert "<img src=x" not in detail
    # In the chart's JSON block, < and > are \u003c / \u003e: the block cannot be closed early.
    assert XSS_METRIC not in detail and "</script><script>" not in detail
    assert XSS_STATE not in detail
    metrics = web.get("/metrics?name=" + quote(XSS_METRIC)).text
    assert "</script><script>alert(2)" not in metrics
    assert "&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in metrics


def test_empty_states_say_what_to_do(web: httpx.Client) -> None:
    html = web.get("/sessions?product=nobody-uses-this").text
    assert "No sessions match these filters" in html
    long_ago = "/metrics?name=cpu_usage&since=2001-01-01T00:00&until=2001-01-02T00:00"
    assert "No points match" in web.get(long_ago).text
