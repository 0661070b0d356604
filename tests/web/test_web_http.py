"""The UI's pages over plain HTTP (no browser): status codes, escaping, the seed's answers.

These run in milliseconds against the same real server the browser tests use, so a
regression in a query or a template shows up here before anyone opens Chromium.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest
from webseed import XSS, XSS_METRIC, XSS_STATE, Seeded, expected_series

HTMX = {"HX-Request": "true"}
PROBE_FILTER = "state_path=window_state.open&state_value=space+probe"
SPACE_PROBE = "/metrics?" + "&".join(
    [
        "name=memory_usage",
        "aggregation=peak",
        "mode=contains",
        "path=window_state.open",
        "value=space+probe",
    ]
)
RUNNING_CPU = "/metrics?" + "&".join(
    [
        "name=cpu_usage",
        "aggregation=all",
        "mode=current",
        "path=application.status",
        "value=running",
    ]
)


def stat(body: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}">([^<]*)<', body)
    assert match, f"no {testid} in the page"
    return match.group(1)


def chart_data(body: str, chart_id: str = "series-chart") -> dict:
    match = re.search(rf'<script type="application/json" id="{chart_id}-data">(.*?)</script>', body)
    assert match, f"no data for {chart_id}"
    return json.loads(match.group(1))


def session_ids(body: str) -> set[str]:
    return set(re.findall(r'href="/sessions/([0-9a-f-]{36})"', body))


@pytest.mark.parametrize("path", ["/", "/sessions", "/metrics", "/ui/dashboard"])
def test_pages_answer_200_with_server_timing(http: httpx.Client, seeded: Seeded, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert re.fullmatch(r"app;dur=[\d.]+", response.headers["server-timing"])


def test_session_page_and_its_partials(http: httpx.Client, seeded: Seeded) -> None:
    sid = seeded.ids["p2"]
    page = http.get(f"/sessions/{sid}")
    assert page.status_code == 200
    assert sid in page.text and "probe-app" in page.text
    assert len(chart_data(page.text, "chart-1")["points"]) == 3
    events = http.get(f"/ui/sessions/{sid}/events", headers=HTMX)
    assert events.status_code == 200 and "<html" not in events.text
    live = http.get(f"/ui/sessions/{sid}/live", headers=HTMX)
    assert live.status_code == 200  # active: keep polling
    assert 'id="session-head" hx-swap-oob="true"' in live.text


def test_live_poll_of_a_finished_session_stops_polling(http: httpx.Client, seeded: Seeded) -> None:
    for role in ("p1", "p4"):  # ended; crashed by a fatal exception event
        response = http.get(f"/ui/sessions/{seeded.ids[role]}/live", headers=HTMX)
        assert response.status_code == 286, role  # htmx cancels the `every` trigger on 286


def test_live_poll_resends_state_only_when_it_changed(http: httpx.Client, seeded: Seeded) -> None:
    sid = seeded.ids["p2"]
    page = http.get(f"/sessions/{sid}").text
    digest = re.search(r'id="state-digest" name="known" value="(\w+)"', page)
    assert digest
    same = http.get(f"/ui/sessions/{sid}/live", params={"known": digest.group(1)}, headers=HTMX)
    assert 'id="state"' not in same.text
    stale = http.get(f"/ui/sessions/{sid}/live", params={"known": "0"}, headers=HTMX)
    assert 'id="state" hx-swap-oob="true"' in stale.text


def test_unknown_session_is_a_404_page(http: httpx.Client, seeded: Seeded) -> None:
    response = http.get("/sessions/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert "No such session" in response.text


def test_vendored_assets_are_served(http: httpx.Client) -> None:
    for path in (
        "/static/app.css",
        "/static/app.js",
        "/static/favicon.svg",
        "/static/vendor/htmx.min.js",
        "/static/vendor/chart.umd.min.js",
        "/static/vendor/chartjs-adapter-date-fns.bundle.min.js",
    ):
        assert http.get(path).status_code == 200, path


def test_pages_link_no_cdn(http: httpx.Client, seeded: Seeded) -> None:
    for path in ("/", "/sessions", "/metrics", f"/sessions/{seeded.ids['p1']}"):
        assert not re.search(r'(src|href)="(https?:)?//', http.get(path).text), path


def test_user_values_are_escaped(http: httpx.Client, seeded: Seeded) -> None:
    body = http.get(f"/sessions/{seeded.ids['xss']}").text
    for raw in (XSS, XSS_STATE, XSS_METRIC, "<b>0.0.1</b>"):
        assert raw not in body, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    assert "&lt;b&gt;0.0.1&lt;/b&gt;" in body
    # The metric's name reaches the chart as JSON with <, > escaped: it cannot end the script.
    assert chart_data(body, "chart-1")["name"] == XSS_METRIC
    assert "\\u003c/script\\u003e\\u003cscript\\u003ealert(2)" in body
    sessions = http.get("/sessions", params={"product": XSS}).text
    assert session_ids(sessions) == {seeded.ids["xss"]}
    assert XSS not in sessions.split("<main>", 1)[1]
    explorer = http.get("/metrics").text
    assert XSS_METRIC not in explorer and "&lt;/script&gt;&lt;script&gt;alert(2)" in explorer


def expected(seeded: Seeded, name: str, *args: str) -> tuple[str, str, str, str]:
    stats = expected_series(list(seeded.specs.values()), name, *args)
    return stats.sessions, stats.peak, stats.average, stats.min


def shown(body: str) -> tuple[str, str, str, str]:
    return tuple(  # type: ignore[return-value]
        stat(body, name) for name in ("sessions-matched", "peak", "average", "min")
    )


def test_seed_example_space_probe_peak_memory(http: httpx.Client, seeded: Seeded) -> None:
    body = http.get(SPACE_PROBE, headers=HTMX).text
    assert "<html" not in body  # htmx gets the fragment only
    assert shown(body) == ("2", "420", "335", "250")
    query = ("peak", "contains", "window_state.open", "space probe")
    assert shown(body) == expected(seeded, "memory_usage", *query)
    points = chart_data(body)["points"]
    assert sorted(p["v"] for p in points) == [250, 420]
    assert {p["s"] for p in points} == {seeded.ids["p1"], seeded.ids["p2"]}


def test_seed_example_cpu_of_running_applications(http: httpx.Client, seeded: Seeded) -> None:
    body = http.get(RUNNING_CPU).text
    assert "<html" in body  # the same URL without htmx is the whole page
    query = ("all", "current", "application.status", "running")
    assert shown(body) == expected(seeded, "cpu_usage", *query)
    assert stat(body, "sessions-matched") == "2"
    points = chart_data(body)["points"]
    assert [p["v"] for p in points] == [10, 20, 30, 40, 55]  # oldest first
    assert {p["s"] for p in points} == {seeded.ids["s1"], seeded.ids["s2"]}


def test_explorer_ever_mode_finds_a_window_closed_since(http: httpx.Client, seeded: Seeded) -> None:
    body = http.get(SPACE_PROBE.replace("mode=contains", "mode=ever"), headers=HTMX).text
    assert stat(body, "sessions-matched") == "3"
    assert stat(body, "peak") == "700"
    query = ("peak", "ever", "window_state.open", "space probe")
    assert shown(body) == expected(seeded, "memory_usage", *query)
    assert {p["s"] for p in chart_data(body)["points"]} == {
        seeded.ids[role] for role in ("p1", "p2", "p4")
    }


def test_explorer_half_filter_is_not_applied(http: httpx.Client, seeded: Seeded) -> None:
    body = http.get("/metrics?name=memory_usage&mode=current&path=window_state.open").text
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
    http: httpx.Client, seeded: Seeded, query: str, roles: set[str]
) -> None:
    body = http.get(f"/sessions?{query}", headers=HTMX).text
    assert "<html" not in body
    assert session_ids(body) == {seeded.ids[role] for role in roles}


def test_browser_bad_input_is_a_message_not_a_crash(http: httpx.Client, seeded: Seeded) -> None:
    for query in ("created_after=yesterday", "state_path=a..b&state_value=1", "cursor=zzz"):
        response = http.get(f"/sessions?{query}", headers=HTMX)
        assert response.status_code == 422, query
        assert 'role="alert"' in response.text


def test_history_restore_gets_the_whole_page(http: httpx.Client, seeded: Seeded) -> None:
    headers = {**HTMX, "HX-History-Restore-Request": "true"}
    assert "<html" in http.get("/sessions?status=ended", headers=headers).text
