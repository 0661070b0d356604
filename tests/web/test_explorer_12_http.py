"""The Metrics page's comparisons over plain HTTP, so they run on PostgreSQL too.

Browser tests on PostgreSQL are limited to a list in tests/web/conftest.py; this checks
the chart data the page embeds (what app.js draws) against the same model on both.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest
from test_explorer_12 import expected, own_url  # noqa: F401  (a shared module fixture)

SERIES_DATA = re.compile(r'<script type="application/json" id="series-chart-data">(.*?)</script>')


@pytest.mark.parametrize(
    ("aggregation", "bucket", "group_by"),
    [("p90", "1m", ""), ("peak", "", "version"), ("sum", "1m", "product"), ("p50", "", "")],
)
def test_page_embeds_the_models_series(
    own_url: str,  # noqa: F811
    aggregation: str,
    bucket: str,
    group_by: str,
) -> None:
    query = {"name": "latency_ms", "aggregation": aggregation, "bucket": bucket}
    query["group_by"] = group_by
    page = httpx.get(f"{own_url}/metrics", params={k: v for k, v in query.items() if v})
    assert page.status_code == 200
    (raw,) = SERIES_DATA.findall(page.text)
    data = json.loads(raw)
    lines = data["groups"] if group_by else [{"label": "", "points": data["points"]}]
    drawn = {line["label"]: [p["v"] for p in line["points"]] for line in lines}
    want = expected(aggregation, bucket=bool(bucket), group_by=group_by or None)
    if not bucket:  # one value per session: compare as sets, the draw order is by time
        drawn = {k: sorted(v) for k, v in drawn.items()}
        want = {k: sorted(v) for k, v in want.items()}
    # Interpolated percentiles are floats computed by the database (percentile_cont on
    # PostgreSQL): equal to the model's up to rounding in the last place.
    assert drawn.keys() == want.keys()
    for label, values in want.items():
        assert drawn[label] == pytest.approx(values, rel=1e-12), label
