"""The session page shows a histogram metric's buckets under its chart.

Over plain HTTP against the web suite's server (both backends): the page is rendered on
the server, so its HTML holds the line. The newest point of a name decides: a name whose
newest point is a histogram shows that histogram's buckets, a plain name shows none. The
live update (the same charts fragment) carries the line too.
"""

from __future__ import annotations

import re

import httpx

FRAME = {
    "name": "frame_ms",
    "kind": "histogram",
    "buckets": [{"le": 16.7, "count": 950}, {"le": 33.3, "count": 40}, {"le": None, "count": 10}],
    "sum": 12345.6,
    "count": 1000,
}
FIGURE = re.compile(r'<figure class="chart-card" data-metric="([^"]+)">(.*?)</figure>', re.S)
LINE = re.compile(r'<p [^>]*data-testid="histogram-buckets">(.*?)</p>', re.S)


def buckets_by_metric(html: str) -> dict[str, list[str]]:
    return {name: LINE.findall(body) for name, body in FIGURE.findall(html)}


def test_a_histogram_chart_shows_its_newest_buckets(http: httpx.Client) -> None:
    session = http.post("/api/sessions").json()["session_id"]
    older = {**FRAME, "buckets": [{"le": 1.0, "count": 1000}], "timestamp": "2026-01-01T00:00:00Z"}
    for body in (older, FRAME | {"timestamp": "2026-01-01T00:00:01Z"}, {"name": "cpu", "value": 3}):
        http.post(f"/api/sessions/{session}/metrics", json=body).raise_for_status()
    for path in (f"/sessions/{session}", f"/ui/sessions/{session}/live"):
        html = http.get(path).text
        assert buckets_by_metric(html) == {
            "cpu": [],
            "frame_ms": [
                "Latest histogram (2026-01-01 00:00:01, 1,000 observations): "
                "le 16.7: 950 · le 33.3: 40 · +Inf: 10"
            ],
        }, path
