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


async def versioned(
    client: httpx.AsyncClient, product: str, metric: str, rng: random.Random
) -> dict[str, tuple[str | None, str | None, list[tuple[int, float]]]]:
    """Sessions of three versions (one unset), points tagged by GPU on two of them."""
    seeded = {}
    for i in range(9):
        version = ("1.4", "1.5", None)[i % 3]
        body = {"product": product} | ({"version": version} if version else {})
        session = (await client.post("/api/sessions", json=body)).json()["session_id"]
        gpu = ("amd", "nvidia", None)[i % 2 if i < 6 else 2]
        points = [(rng.randrange(0, 3 * 86_400), rng.uniform(0, 100)) for _ in range(3 + i * 7)]
        items = [
            {
                "op": "metric",
                "session_id": session,
                "name": metric,
                "value": value,
                "timestamp": _ts(offset),
            }
            | ({"tags": {"gpu": gpu}} if gpu else {})
            for offset, value in points
        ]
        assert (await client.post("/api/batch", json={"items": items})).status_code == 200
        seeded[session] = (version, gpu, points)
    return seeded


def _bucketed(
    points: list[tuple[int, float]], width_s: int, aggregation: str
) -> list[tuple[str, float]]:
    by_bucket: dict[int, list[float]] = {}
    for offset, value in points:
        by_bucket.setdefault(offset - offset % width_s, []).append(value)
    reduce = reducer(aggregation)
    return [(_ts(start), reduce(values)) for start, values in sorted(by_bucket.items())]


def _pairs(points: list[dict]) -> list[tuple[str, float]]:
    return [(p["timestamp"], p["value"]) for p in points]


def same_points(got: list[tuple[str, float]], expected: list[tuple[str, float]]) -> bool:
    return [t for t, _ in got] == [t for t, _ in expected] and [v for _, v in got] == pytest.approx(
        [v for _, v in expected]
    )


@pytest.mark.parametrize(("bucket", "width_s"), [("1h", 3600), ("1d", 86_400), ("auto", 3600)])
@pytest.mark.parametrize("aggregation", ["p95", "avg", "count", "all"])
async def test_buckets_pool_every_session(
    client: httpx.AsyncClient, product: str, bucket: str, width_s: int, aggregation: str
) -> None:
    metric = f"b12_{uuid.uuid4().hex[:6]}"
    seeded = await versioned(client, product, metric, random.Random(bucket + aggregation))
    everything = [p for _, _, points in seeded.values() for p in points]
    url = f"/api/metrics/series?name={metric}&product={product}&aggregation={aggregation}"
    # auto: 3 days in hours is 72 points (<= 300); 5m would be 864.
    response = await client.get(f"{url}&bucket={bucket}")
    assert response.status_code == 200, response.text
    body = response.json()
    # A line needs one value per bucket: `all` averages it.
    expected = _bucketed(everything, width_s, "avg" if aggregation == "all" else aggregation)
    assert body["bucket"] == {"auto": "1h"}.get(bucket, bucket)
    assert [t for t, _ in _pairs(body["points"])] == [t for t, _ in expected]
    assert [v for _, v in _pairs(body["points"])] == pytest.approx([v for _, v in expected])
    assert body["points_matched"] == len(expected) and body["sessions_matched"] == 9
    assert body["peak"] == pytest.approx(max(v for _, v in expected))
    assert set(body) == {
        "name",
        "aggregation",
        "bucket",
        "points",
        "peak",
        "average",
        "min",
        "sessions_matched",
        "points_matched",
        "truncated",
    }

    capped = (await client.get(f"{url}&bucket={bucket}&limit=5")).json()
    assert same_points(_pairs(capped["points"]), _pairs(body["points"])[-5:])
    assert capped["truncated"] is (len(expected) > 5)


@pytest.mark.parametrize("aggregation", ["p50", "all", "peak"])
async def test_groups_by_version_and_tag(
    client: httpx.AsyncClient, product: str, aggregation: str
) -> None:
    metric = f"g12_{uuid.uuid4().hex[:6]}"
    seeded = await versioned(client, product, metric, random.Random(aggregation))
    url = f"/api/metrics/series?name={metric}&product={product}&aggregation={aggregation}"
    body = (await client.get(f"{url}&group_by=version")).json()
    assert body["group_by"] == "version" and body["bucket"] is None
    assert [g["group"] for g in body["groups"]] == ["1.4", "1.5", None]
    reduce = None if aggregation == "all" else reducer(aggregation)
    for group in body["groups"]:
        mine = {s: pts for s, (v, _, pts) in seeded.items() if v == group["group"]}
        if reduce is None:
            expected = sorted((_ts(t), v, s) for s, pts in mine.items() for t, v in pts)
            got = [(p["timestamp"], p["value"], p["session_id"]) for p in group["points"]]
            assert sorted(got) == expected
        else:
            got_values = {p["session_id"]: p["value"] for p in group["points"]}
            assert got_values == pytest.approx(
                {s: reduce([v for _, v in pts]) for s, pts in mine.items()}
            )
        assert group["sessions_matched"] == len(mine) == 3

    by_gpu = (
        (await client.get(f"{url}&group_by=tag:gpu&bucket=1d")).json()
        if aggregation != "all"
        else None
    )
    if by_gpu is not None:
        assert [g["group"] for g in by_gpu["groups"]] == ["amd", "nvidia", None]
        for group in by_gpu["groups"]:
            pts = [p for _, gpu, points in seeded.values() if gpu == group["group"] for p in points]
            expected = _bucketed(pts, 86_400, aggregation)
            assert same_points(_pairs(group["points"]), expected)


async def test_bad_explorer_parameters_are_a_clear_422(
    client: httpx.AsyncClient, product: str
) -> None:
    base = "/api/metrics/series?name=x"
    for query, word in (
        ("&bucket=2h&aggregation=avg", "bucket"),
        ("&group_by=host", "group_by"),
        ("&group_by=tag:a%22b", "group_by"),
        ("&aggregation=p42", "aggregation"),
    ):
        response = await client.get(base + query)
        assert response.status_code == 422, (query, response.text)
        assert word in response.text


async def test_without_bucket_or_group_the_answer_keeps_its_shape(
    client: httpx.AsyncClient, product: str
) -> None:
    metric = f"k12_{uuid.uuid4().hex[:6]}"
    await versioned(client, product, metric, random.Random(1))
    for aggregation in ("all", "peak", "p90", "sum"):
        body = (
            await client.get(f"/api/metrics/series?name={metric}&aggregation={aggregation}")
        ).json()
        assert set(body) == {
            "name",
            "aggregation",
            "points",
            "peak",
            "average",
            "min",
            "sessions_matched",
            "points_matched",
            "truncated",
        }
