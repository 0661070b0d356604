"""Issue 12: the series explorer's new statistics, buckets and groups, on both backends.

Expected answers come from an independent model: the seeded points kept in Python and
reduced with ``statistics`` (percentiles as ``quantiles(..., method="inclusive")``).
"""

from __future__ import annotations

import random
import statistics
import uuid
from collections.abc import Callable

import httpx
import pytest

PERCENTS = {"p50": 50, "p90": 90, "p95": 95, "p99": 99}


def percentile(values: list[float], percent: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def reducer(aggregation: str) -> Callable[[list[float]], float]:
    if aggregation in PERCENTS:
        return lambda values: percentile(values, PERCENTS[aggregation])
    return {
        "peak": max,
        "min": min,
        "avg": statistics.fmean,
        "sum": lambda values: float(sum(values)),
        "count": lambda values: float(len(values)),
    }[aggregation]


Seeded = dict[str, list[tuple[int, float]]]
"""session id → its (second offset, value) points."""


async def seed(client: httpx.AsyncClient, product: str, metric: str, rng: random.Random) -> Seeded:
    seeded: Seeded = {}
    # Sizes 1, 2 and odd/even larger ones: every interpolation case (no neighbour,
    # exact rank, weighted pair) occurs; repeated values test ties.
    for size in (1, 2, 3, 7, 20, 101, 250):
        session = (await client.post("/api/sessions", json={"product": product})).json()[
            "session_id"
        ]
        points = [
            (rng.randrange(0, 3 * 86_400), rng.choice([rng.uniform(-50, 500), 7.0]))
            for _ in range(size)
        ]
        items = [
            {
                "op": "metric",
                "session_id": session,
                "name": metric,
                "value": value,
                "timestamp": _ts(offset),
            }
            for offset, value in points
        ]
        response = await client.post("/api/batch", json={"items": items})
        assert response.status_code == 200, response.text
        seeded[session] = points
    return seeded


def _ts(offset_s: int) -> str:
    day, rest = divmod(offset_s, 86_400)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return f"2026-03-{1 + day:02d}T{hour:02d}:{minute:02d}:{second:02d}.000000Z"


@pytest.fixture
def product() -> str:
    return f"s12-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("aggregation", ["sum", "count", "p50", "p90", "p95", "p99"])
async def test_per_session_statistics_match_python(
    client: httpx.AsyncClient, product: str, aggregation: str
) -> None:
    metric = f"m12_{uuid.uuid4().hex[:6]}"
    seeded = await seed(client, product, metric, random.Random(aggregation))
    response = await client.get(
        f"/api/metrics/series?name={metric}&product={product}&aggregation={aggregation}"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    reduce = reducer(aggregation)
    expected = {session: reduce([v for _, v in points]) for session, points in seeded.items()}
    got = {p["session_id"]: p["value"] for p in body["points"]}
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert body["aggregation"] == aggregation
    assert body["sessions_matched"] == body["points_matched"] == len(seeded)
    assert body["peak"] == pytest.approx(max(expected.values()))
    assert body["min"] == pytest.approx(min(expected.values()))
    assert body["average"] == pytest.approx(statistics.fmean(expected.values()))
    newest = {s: _ts(max(t for t, _ in points)) for s, points in seeded.items()}
    assert {p["session_id"]: p["timestamp"] for p in body["points"]} == newest


async def test_huge_sums_saturate_instead_of_failing(
    client: httpx.AsyncClient, product: str
) -> None:
    metric = f"huge12_{uuid.uuid4().hex[:6]}"
    session = (await client.post("/api/sessions", json={"product": product})).json()["session_id"]
    for value in (1.7e308, 1.7e308, -1e300):
        await client.post(f"/api/sessions/{session}/metrics", json={"name": metric, "value": value})
    for aggregation in ("sum", "p50", "p99"):
        response = await client.get(f"/api/metrics/series?name={metric}&aggregation={aggregation}")
        assert response.status_code == 200, response.text
    total = (await client.get(f"/api/metrics/series?name={metric}&aggregation=sum")).json()
    assert total["points"][0]["value"] == 1.79769313486231e308
    assert total["average"] == 1.79769313486231e308
