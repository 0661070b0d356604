"""Metrics page comparisons in Chromium (issue 12): percentiles, time buckets, group-by.

The page runs against its own server (the shared web seed has one version and product per
metric, so nothing to compare); every expectation comes from ``POINTS`` through the small
model below (``statistics.quantiles``, sums, maxima), never from the server.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pagehelp import query_of
from webseed import Seeded, expected_series

from support import eventually
from support.postgres import throwaway_database
from support.server import serve

pytestmark = pytest.mark.browser

METRIC = "latency_ms"
SESSIONS = {"a": ("alpha", "1.0"), "b": ("alpha", "2.0"), "c": ("beta", "2.0")}
POINTS = [  # (session, minute, value)
    ("a", 0, 10), ("a", 0, 20), ("a", 1, 30),
    ("b", 0, 100), ("b", 1, 200), ("b", 1, 300),
    ("c", 1, 1000), ("c", 2, 5),
]  # fmt: skip
BASE = (datetime.now(timezone.utc) - timedelta(hours=2)).replace(second=0, microsecond=0)


def _fmt(value: float) -> str:
    return f"{value:,.6g}"


def _percentile(values: list[float], percent: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


REDUCE: dict[str, Callable[[list[float]], float]] = {
    "peak": max,
    "sum": lambda xs: float(sum(xs)),
    "p50": lambda xs: _percentile(xs, 50),
    "p90": lambda xs: _percentile(xs, 90),
}


def _group_of(session: str, group_by: str | None) -> str:
    product, version = SESSIONS[session]
    return {"product": product, "version": version}.get(group_by or "", "")


def expected(aggregation: str, bucket: bool, group_by: str | None) -> dict[str, list[float]]:
    """Per group (``""`` ungrouped): the values drawn, oldest first."""
    cells: dict[str, dict[Any, list[float]]] = {}
    for session, minute, value in POINTS:
        key = (minute, "") if bucket else (0, session)
        cells.setdefault(_group_of(session, group_by), {}).setdefault(key, []).append(value)
    return {
        group: [REDUCE[aggregation](values) for _, values in sorted(by_key.items())]
        for group, by_key in cells.items()
    }


@pytest.fixture(scope="module")
def own_url(web_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    def seeded(url: str) -> str:
        with httpx.Client(base_url=url, timeout=30) as http:
            ids = {
                key: http.post("/api/sessions", json={"product": p, "version": v}).json()[
                    "session_id"
                ]
                for key, (p, v) in SESSIONS.items()
            }
            items = [
                {
                    "op": "metric",
                    "session_id": ids[session],
                    "name": METRIC,
                    "value": value,
                    "timestamp": (BASE + timedelta(minutes=minute, seconds=5 + i))
                    .isoformat()
                    .replace("+00:00", "Z"),
                }
                for i, (session, minute, value) in enumerate(POINTS)
            ]
            http.post("/api/batch", json={"items": items}).raise_for_status()
        return url

    if web_backend == "sqlite":
        db = tmp_path_factory.mktemp("explorer12") / "e.db"
        with serve(f"sqlite+aiosqlite:///{db}") as url:
            yield seeded(url)
        return
    with throwaway_database("datacat_explorer12") as database, serve(database) as url:
        yield seeded(url)


@pytest.fixture
def tab(open_page: Callable[..., Any], own_url: str) -> Any:
    return open_page(base_url=own_url)


def _drawn(tab: Any) -> dict[str, list[float]]:
    return tab.evaluate(
        "() => { const c = (window.datacatCharts || {})['series-chart'];"
        " if (!c) return {}; const out = {};"
        " c.data.datasets.forEach(d => { out[d.label] = d.data.map(p => p.y); });"
        " return out; }"
    )


def _sorted_values(drawn: dict[str, list[float]]) -> dict[str, list[float]]:
    return {label: sorted(values) for label, values in drawn.items()}


def test_percentile_per_session(tab: Any) -> None:
    tab.goto(f"/metrics?name={METRIC}&aggregation=p50")
    want = expected("p50", bucket=False, group_by=None)[""]
    assert want == [20, 200, 502.5]
    assert tab.get_by_test_id("sessions-matched").inner_text() == "3"
    assert tab.get_by_test_id("peak").inner_text() == _fmt(max(want))
    assert tab.get_by_test_id("average").inner_text() == _fmt(sum(want) / len(want))
    assert _sorted_values(_drawn(tab)) == {METRIC: sorted(want)}


def test_bucket_through_the_form(tab: Any) -> None:
    """Choosing p90 then 1-minute buckets swaps in one point per minute, at its start."""
    tab.goto(f"/metrics?name={METRIC}")
    tab.select_option("#explorer select[name=aggregation]", "p90")
    tab.select_option("#explorer select[name=bucket]", "1m")
    want = expected("p90", bucket=True, group_by=None)[""]
    assert len(want) == 3
    eventually(lambda: _drawn(tab), {METRIC: want})
    starts = tab.evaluate(
        "() => window.datacatCharts['series-chart'].data.datasets[0].data.map(p => p.x)"
    )
    base_ms = int(BASE.timestamp() * 1000)
    assert starts == [base_ms + m * 60_000 for m in range(3)]
    assert tab.get_by_test_id("points").inner_text() == "3"
    assert query_of(tab).get("bucket") == "1m"


def test_group_by_version_draws_a_line_per_group_with_a_legend(tab: Any) -> None:
    tab.goto(f"/metrics?name={METRIC}&aggregation=peak&group_by=version")
    want = expected("peak", bucket=False, group_by="version")
    assert _sorted_values(want) == {"1.0": [30], "2.0": [300, 1000]}
    assert _sorted_values(_drawn(tab)) == _sorted_values(want)
    assert tab.evaluate("() => window.datacatCharts['series-chart'].options.plugins.legend.display")
    rows = tab.locator("#group-stats tbody tr")
    assert rows.count() == 2
    row = tab.locator('#group-stats tr[data-group="2.0"] td').all_inner_texts()
    assert row == ["2.0", "2", _fmt(1000), _fmt(650), _fmt(300), "2"]


def test_group_by_product_in_buckets_through_the_form(tab: Any) -> None:
    tab.goto(f"/metrics?name={METRIC}&aggregation=sum&bucket=1m")
    tab.fill("#explorer input[name=group_by]", "product")
    want = expected("sum", bucket=True, group_by="product")
    assert want == {"alpha": [130, 530], "beta": [1000, 5]}
    eventually(lambda: _drawn(tab), want)
    assert query_of(tab).get("group_by") == "product"
    tab.reload()
    assert _drawn(tab) == want


def test_bad_group_by_is_named_not_a_500(tab: Any) -> None:
    response = tab.goto(f"/metrics?name={METRIC}&group_by=colour")
    assert response.status == 200
    assert "'colour'" in tab.get_by_role("alert").inner_text()
    assert tab.locator("#series canvas").count() == 0


def test_filter_parameters_use_the_api_names_and_old_links_still_open(
    page: Any, seeded: Seeded
) -> None:
    """``state_mode/state_path/state_value`` as in /api; ``mode/path/value`` links still work."""
    filter_ = {"mode": "contains", "path": "window_state.open", "value": "space probe"}
    want = expected_series(list(seeded.specs.values()), "memory_usage", "peak", *filter_.values())
    assert want.sessions == "2"
    old = urlencode({"name": "memory_usage", "aggregation": "peak", **filter_})
    new = urlencode(
        {"name": "memory_usage", "aggregation": "peak"}
        | {f"state_{key}": text for key, text in filter_.items()}
    )
    for query in (old, new):
        page.goto(f"/metrics?{query}")
        assert page.get_by_test_id("sessions-matched").inner_text() == want.sessions
        assert page.get_by_test_id("peak").inner_text() == want.peak
        assert page.locator("#explorer select[name=state_mode]").input_value() == "contains"
        assert page.locator("#explorer input[name=state_value]").input_value() == "space probe"
    page.select_option("#explorer select[name=aggregation]", "min")
    lowest = expected_series(list(seeded.specs.values()), "memory_usage", "min", *filter_.values())
    eventually(lambda: page.get_by_test_id("min").inner_text(), lowest.min)
    eventually(lambda: query_of(page).get("aggregation"), "min")
    pushed = query_of(page)
    assert {k: pushed.get(f"state_{k}") for k in filter_} == filter_
    assert not {"mode", "path", "value"} & pushed.keys()
