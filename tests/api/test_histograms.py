"""Pre-aggregated histograms (issue 12): stored from single POSTs on both serving paths and
from batches, refused alike with a 422 naming the field (writing nothing), never counted
twice on a resend, and weighed by the series explorer on SQLite and PostgreSQL.

Expected percentiles come from an independent model: per partition, the merged bucket
counts and the plain points form a piecewise-linear cumulative count (buckets spread over
(previous le, le], the +Inf bucket and each point a step), inverted by bisection; a
partition without histograms is ``statistics.quantiles(..., method="inclusive")``.
"""

from __future__ import annotations

import math
import random
import statistics
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from datacat.store import exporter
from datacat.store.database import create_engine
from datacat.store.importer import Importer
from datacat.store.migrate import upgrade
from datacat.store.repository import Repository
from datacat.store.transferformat import LineError, parse_line
from support.postgres import fresh_database

FRAME = {
    "name": "frame_ms",
    "kind": "histogram",
    "unit": "ms",
    "buckets": [{"le": 16.7, "count": 950}, {"le": 33.3, "count": 40}, {"le": None, "count": 10}],
    "sum": 12345.6,
    "count": 1000,
}


async def new_session(client: httpx.AsyncClient, **body: Any) -> str:
    response = await client.post("/api/sessions", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["session_id"])


async def stored(repo: Repository, session_id: str) -> tuple[list[tuple], list[tuple]]:
    """The session's metric rows and bucket rows as the database holds them."""
    async with repo.engine.connect() as conn:
        pk = (
            await conn.execute(text("SELECT pk FROM sessions WHERE id = :id"), {"id": session_id})
        ).scalar_one()
        rows = await conn.execute(
            text(
                "SELECT name, value, kind, unit, observations FROM metrics"
                " WHERE session_pk = :pk ORDER BY id"
            ),
            {"pk": pk},
        )
        buckets = await conn.execute(
            text("SELECT name, le, count FROM metric_buckets WHERE session_pk = :pk ORDER BY id"),
            {"pk": pk},
        )
        return [tuple(r) for r in rows], [tuple(r) for r in buckets]


FRAME_ROW = ("frame_ms", 12.3456, "histogram", "ms", 1000)
FRAME_BUCKETS = [("frame_ms", 16.7, 950), ("frame_ms", 33.3, 40), ("frame_ms", None, 10)]


async def test_single_posts_store_mean_count_and_buckets(
    client: httpx.AsyncClient, plain: httpx.AsyncClient, repo: Repository
) -> None:
    for http in (client, plain):
        session = await new_session(http)
        response = await http.post(f"/api/sessions/{session}/metrics", json=FRAME)
        assert response.status_code == 200, response.text
        rows, buckets = await stored(repo, session)
        assert rows == [pytest.approx(FRAME_ROW)]
        assert buckets == FRAME_BUCKETS
    # value is optional with buckets, and ignored if given: the mean is what is stored;
    # kind defaults to histogram with buckets.
    session = await new_session(client)
    body = _without("kind") | {"value": 99.0}
    assert (await client.post(f"/api/sessions/{session}/metrics", json=body)).status_code == 200
    assert (await stored(repo, session))[0] == [pytest.approx(FRAME_ROW)]
    # JSON Schema's integers include 950.0: accepted as 950 (text is not).
    session = await new_session(client)
    body = FRAME | {"buckets": [b | {"count": float(b["count"])} for b in FRAME["buckets"]]}
    assert (await client.post(f"/api/sessions/{session}/metrics", json=body)).status_code == 200
    assert await stored(repo, session) == ([pytest.approx(FRAME_ROW)], FRAME_BUCKETS)
    # sum and count without buckets (null or absent) mean nothing: ignored, a plain point.
    session = await new_session(client)
    body = {"name": "frame_ms", "value": 1.0, "sum": 3.0, "count": 2, "buckets": None}
    assert (await client.post(f"/api/sessions/{session}/metrics", json=body)).status_code == 200
    assert await stored(repo, session) == ([("frame_ms", 1.0, None, None, None)], [])


async def test_a_resent_batch_counts_buckets_once(
    client: httpx.AsyncClient, repo: Repository
) -> None:
    session = await new_session(client)
    items = [
        {"op": "metric", "session_id": session, "id": "h-1"} | FRAME,
        {"op": "metric", "session_id": session, "name": "frame_ms", "value": 5.0},
        {"op": "metric", "session_id": session, "id": "h-1"} | FRAME,
    ]
    first = await client.post("/api/batch", json={"items": items})
    assert first.json() == {"status": "ok", "accepted": 2, "duplicates": 1}
    again = await client.post("/api/batch", json={"items": items[:1]})
    assert again.json() == {"status": "ok", "accepted": 0, "duplicates": 1}
    rows, buckets = await stored(repo, session)
    # Plain rows are inserted before keyed ones within a group.
    assert rows == [("frame_ms", 5.0, None, None, None), pytest.approx(FRAME_ROW)]
    assert buckets == FRAME_BUCKETS


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in FRAME.items() if k != key}


BAD = [
    (FRAME | {"kind": "timer"}, 'only with kind "histogram"'),
    (FRAME | {"buckets": []}, "buckets"),
    (
        FRAME | {"buckets": [{"le": float(i), "count": 0} for i in range(65)], "count": 0},
        "buckets",
    ),
    (
        FRAME | {"buckets": [{"le": 2.0, "count": 500}, {"le": 1.0, "count": 500}]},
        "buckets[1].le: bucket bounds must strictly increase",
    ),
    (
        FRAME | {"buckets": [{"le": None, "count": 500}, {"le": 1.0, "count": 500}]},
        "buckets[0].le: null (+Inf) only on the last bucket",
    ),
    (FRAME | {"buckets": [{"le": 1.0, "count": -1}, {"le": None, "count": 1001}]}, "count"),
    (FRAME | {"buckets": [{"le": 1.0, "count": 1.5}]}, "count"),
    (FRAME | {"count": "1000"}, "count"),
    (FRAME | {"buckets": [{"le": 1.0, "count": 2**53 + 1}], "count": 2**53 + 1}, "count"),
    (FRAME | {"count": 999}, "count: must equal the sum of the bucket counts"),
    (_without("count"), "count: required with buckets"),
    (_without("sum"), "sum: required with buckets"),
    (FRAME | {"sum": "12"}, "sum"),
    ({"name": "frame_ms", "kind": "histogram"}, "value"),
]


@pytest.mark.parametrize(("body", "named"), BAD)
async def test_bad_histograms_are_refused_alike_and_write_nothing(
    client: httpx.AsyncClient,
    plain: httpx.AsyncClient,
    repo: Repository,
    body: dict[str, Any],
    named: str,
) -> None:
    session = await new_session(client)
    answers = []
    for http in (client, plain):
        response = await http.post(f"/api/sessions/{session}/metrics", json=body)
        assert response.status_code == 422, response.text
        answers.append(response.json())
        batch = await http.post(
            "/api/batch",
            json={
                "items": [
                    {"op": "metric", "session_id": session, "name": "ok", "value": 1.0},
                    {"op": "metric", "session_id": session} | body,
                ]
            },
        )
        assert batch.status_code == 422, batch.text
        assert named in str(batch.json()["detail"])
    assert answers[0] == answers[1]
    assert named in str(answers[0]["detail"])
    assert await stored(repo, session) == ([], [])


async def test_huge_counts_add_up_without_overflow(client: httpx.AsyncClient) -> None:
    """Counts up to 2**53 each: their sums in SQL must not overflow (SQLite's integer SUM
    raises) whatever the statistic."""
    name = f"huge_{uuid.uuid4().hex[:6]}"
    session = await new_session(client)
    huge = {"name": name, "kind": "histogram", "sum": 1.0, "count": 2**53}
    items = [
        {"op": "metric", "session_id": session}
        | huge
        | {"buckets": [{"le": 1.0, "count": 2**53}], "timestamp": _ts(t)}
        for t in range(1200)
    ]
    assert (await client.post("/api/batch", json={"items": items})).status_code == 200
    for aggregation in ("count", "sum", "avg", "p50"):
        for bucket in ("", "&bucket=1d"):
            response = await client.get(
                f"/api/metrics/series?name={name}&aggregation={aggregation}{bucket}"
            )
            assert response.status_code == 200, response.text
    answer = await client.get(f"/api/metrics/series?name={name}&aggregation=count")
    assert answer.json()["points"][0]["value"] == pytest.approx(1200 * 2**53)


# --- the explorer ------------------------------------------------------------------------

LAYOUTS = [[1.0, 5.0, 10.0, 50.0, None], [2.5, 10.0, 25.0, None], [-5.0, 0.0, 20.0, None]]

Point = tuple[int, float]  # (second offset, plain value)
Histogram = tuple[int, list[tuple[float | None, int]], float]  # (offset, buckets, sum)


def _ts(offset_s: int) -> str:
    day, rest = divmod(offset_s, 86_400)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return f"2026-03-{1 + day:02d}T{hour:02d}:{minute:02d}:{second:02d}.000000Z"


def model_percentile(
    percent: int, points: list[float], histograms: list[list[tuple[float | None, int]]]
) -> float:
    if not histograms:
        if len(points) == 1:
            return points[0]
        return statistics.quantiles(points, n=100, method="inclusive")[percent - 1]
    merged: dict[float | None, int] = {}
    for buckets in histograms:
        for le, n in buckets:
            merged[le] = merged.get(le, 0) + n
    finite = sorted(le for le in merged if le is not None)
    spans = []  # (lower, upper, count)
    steps = [(v, 1.0) for v in points]
    for i, le in enumerate(finite):
        lower = finite[i - 1] if i else (0.0 if le > 0 else le)
        if lower == le:
            steps.append((le, merged[le]))
        else:
            spans.append((lower, le, merged[le]))
    if None in merged:
        steps.append((finite[-1] if finite else 0.0, merged[None]))
    total = sum(n for _, _, n in spans) + sum(n for _, n in steps)
    rank = percent / 100 * total

    def cdf(x: float) -> float:
        inside = sum(n * min(max((x - lo) / (hi - lo), 0.0), 1.0) for lo, hi, n in spans)
        return inside + sum(n for v, n in steps if v <= x)

    low, high = -1e4, 1e4
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (low, middle) if cdf(middle) >= rank else (middle, high)
    return high


async def seed(
    client: httpx.AsyncClient, product: str, metric: str, rng: random.Random
) -> dict[str, tuple[str, list[Point], list[Histogram]]]:
    """Sessions of two versions: some only plain points, some only histograms (in
    differing layouts), most both; over three days."""
    seeded = {}
    for i in range(8):
        version = ("1.4", "1.5")[i % 2]
        session = await new_session(client, product=product, version=version)
        plain_points = [
            (rng.randrange(0, 3 * 86_400), round(rng.uniform(-10, 60), 3))
            for _ in range(0 if i == 1 else rng.randrange(1, 12))
        ]
        histograms: list[Histogram] = []
        for _ in range(0 if i == 2 else rng.randrange(1, 4)):
            layout = rng.choice(LAYOUTS)
            buckets = [(le, rng.randrange(0, 30)) for le in layout]
            buckets[0] = (buckets[0][0], buckets[0][1] + 1)  # never an empty histogram
            histograms.append((rng.randrange(0, 3 * 86_400), buckets, rng.uniform(0, 500)))
        items: list[dict[str, Any]] = [
            {"op": "metric", "session_id": session, "name": metric, "value": v, "timestamp": _ts(t)}
            for t, v in plain_points
        ]
        items += [
            {
                "op": "metric",
                "session_id": session,
                "name": metric,
                "kind": "histogram",
                "buckets": [{"le": le, "count": n} for le, n in buckets],
                "sum": total,
                "count": sum(n for _, n in buckets),
                "timestamp": _ts(t),
            }
            for t, buckets, total in histograms
        ]
        response = await client.post("/api/batch", json={"items": items})
        assert response.status_code == 200, response.text
        seeded[session] = (version, plain_points, histograms)
    return seeded


def model(aggregation: str, points: list[Point], histograms: list[Histogram]) -> float:
    if aggregation in ("sum", "count", "avg"):
        total = sum(v for _, v in points) + sum(s for _, _, s in histograms)
        n = len(points) + sum(sum(c for _, c in b) for _, b, _ in histograms)
        return {"sum": total, "count": float(n), "avg": total / n}[aggregation]
    return model_percentile(
        int(aggregation[1:]), [v for _, v in points], [b for _, b, _ in histograms]
    )


@pytest.fixture
def product() -> str:
    return f"hist-{uuid.uuid4().hex[:8]}"


AGGREGATIONS = ["p50", "p90", "p95", "p99", "sum", "count", "avg"]


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
async def test_per_session_statistics_weigh_histograms(
    client: httpx.AsyncClient, product: str, aggregation: str
) -> None:
    metric = f"h_{uuid.uuid4().hex[:6]}"
    seeded = await seed(client, product, metric, random.Random(aggregation))
    response = await client.get(
        f"/api/metrics/series?name={metric}&product={product}&aggregation={aggregation}"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    expected = {s: model(aggregation, p, h) for s, (_, p, h) in seeded.items()}
    got = {p["session_id"]: p["value"] for p in body["points"]}
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-6)
    assert body["peak"] == pytest.approx(max(expected.values()))
    assert body["average"] == pytest.approx(statistics.fmean(expected.values()))


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
async def test_daily_buckets_by_version_weigh_histograms(
    client: httpx.AsyncClient, product: str, aggregation: str
) -> None:
    metric = f"h_{uuid.uuid4().hex[:6]}"
    seeded = await seed(client, product, metric, random.Random("d" + aggregation))
    partitions: dict[tuple[str, str], tuple[list[Point], list[Histogram]]] = {}
    for version, points, histograms in seeded.values():
        for t, v in points:
            partitions.setdefault((version, _ts(t - t % 86_400)), ([], []))[0].append((t, v))
        for h in histograms:
            partitions.setdefault((version, _ts(h[0] - h[0] % 86_400)), ([], []))[1].append(h)
    response = await client.get(
        f"/api/metrics/series?name={metric}&product={product}&aggregation={aggregation}"
        "&bucket=1d&group_by=version"
    )
    assert response.status_code == 200, response.text
    got = {
        (group["group"], point["timestamp"]): point["value"]
        for group in response.json()["groups"]
        for point in group["points"]
    }
    expected = {key: model(aggregation, *parts) for key, parts in partitions.items()}
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-6)
    assert all(math.isfinite(v) for v in got.values())


# --- export / import ---------------------------------------------------------------------


async def _export_one(url: str, session_id: str) -> bytes:
    engine = create_engine(url, pool_size=1)
    pieces: list[bytes] = []
    try:
        await exporter.export_sessions(engine, None, pieces.append)
    finally:
        await engine.dispose()
    (found,) = [
        line for line in b"".join(pieces).splitlines() if f'"id":"{session_id}"'.encode() in line
    ]
    return found


async def _reimported(
    backend: str, tmp_path: Path, name: str, session: str, exported: bytes
) -> bytes:
    """``exported`` imported into a fresh database, then that session exported again."""
    with fresh_database(backend, tmp_path, name) as url:
        engine = create_engine(url, pool_size=1)
        await upgrade(engine)
        await engine.dispose()
        importer = Importer(url)
        try:
            await importer.add(parse_line(exported), 1)
            await importer.flush()
        finally:
            await importer.close()
        return await _export_one(url, session)


async def test_histograms_round_trip_export_and_import(
    client: httpx.AsyncClient, database_url: str, backend: str, tmp_path: Path
) -> None:
    session = await new_session(client)
    items = [
        {"op": "metric", "session_id": session, "name": "frame_ms", "value": 3.0},
        {"op": "metric", "session_id": session, "id": "h-1"} | FRAME,
        {"op": "metric", "session_id": session, "name": "frame_ms", "value": 4.0, "id": "p-1"},
        {"op": "metric", "session_id": session, "timestamp": "2026-03-01T00:00:00Z"}
        | FRAME
        | {"buckets": [{"le": -1.5, "count": 3}], "count": 3, "sum": -6.0},
    ]
    assert (await client.post("/api/batch", json={"items": items})).status_code == 200
    exported = await _export_one(database_url, session)
    metrics = orjson.loads(exported)["metrics"]
    histograms = [m for m in metrics if "buckets" in m]
    assert sorted((m["count"], m["buckets"]) for m in histograms) == sorted(
        [
            (
                1000,
                [{"le": 16.7, "count": 950}, {"le": 33.3, "count": 40}, {"le": None, "count": 10}],
            ),
            (3, [{"le": -1.5, "count": 3}]),
        ]
    )
    assert all("count" not in m for m in metrics if "buckets" not in m)

    assert await _reimported(backend, tmp_path, "histogram_import", session, exported) == exported


async def test_histograms_sharing_a_time_export_each_with_its_own_buckets(
    client: httpx.AsyncClient, database_url: str, backend: str, tmp_path: Path
) -> None:
    """A batch without timestamps stamps its items with one instant, so two histograms of
    one name share (session, name, time), the key their buckets are stored under: each
    must still be exported with its own buckets, or the import refuses the line."""
    session = await new_session(client)
    small = {"buckets": [{"le": 1.0, "count": 2}, {"le": None, "count": 1}], "count": 3, "sum": 4.5}
    items = [
        {"op": "metric", "session_id": session} | FRAME,
        {"op": "metric", "session_id": session} | FRAME | small,
    ]
    assert (await client.post("/api/batch", json={"items": items})).status_code == 200
    exported = await _export_one(database_url, session)
    histograms = [m for m in orjson.loads(exported)["metrics"] if "buckets" in m]
    assert len({m["ts_us"] for m in histograms}) == 1
    assert sorted((m["count"], m["buckets"]) for m in histograms) == sorted(
        [(1000, FRAME["buckets"]), (3, small["buckets"])]
    )

    assert await _reimported(backend, tmp_path, "shared_import", session, exported) == exported


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"kind": "gauge"}, 'metrics[0].buckets: only with kind "histogram"'),
        ({"count": 999}, "metrics[0].count: must equal the sum of the bucket counts"),
        ({"count": "1000"}, "metrics[0].count: must be a non-negative integer"),
        ({"buckets": [{"le": 2.0, "count": 1000}, {"le": 1.0, "count": 0}]}, "buckets[1].le"),
        ({"buckets": [{"le": 1.0}]}, "metrics[0].buckets[0]: must be an object with le and"),
    ],
)
def test_a_bad_histogram_line_names_the_field(change: dict[str, Any], named: str) -> None:
    metric = {
        "ts_us": 1,
        "name": "frame_ms",
        "value": 12.3456,
        "tags": None,
        "client_id": None,
        "kind": "histogram",
        "count": 1000,
        "buckets": FRAME["buckets"],
    } | change
    line = {
        "id": "s",
        "created_us": 0,
        "updated_us": 0,
        "ended_us": None,
        "last_seen_us": 0,
        "active": True,
        "status": "active",
        "state": {},
        "product": None,
        "version": None,
        "host": None,
        "metadata": None,
        "heartbeat_timeout_s": None,
        "state_history": [],
        "events": [],
        "metrics": [metric],
    }
    with pytest.raises(LineError) as caught:
        parse_line(orjson.dumps(line))
    assert named in str(caught.value)


# --- percentiles per time bucket with no session filter ------------------------------------


@pytest.mark.parametrize("aggregation", ["p50", "p90", "p95", "p99"])
@pytest.mark.parametrize(("bucket", "width_s"), [("1h", 3600), ("1d", 86_400), ("auto", 3600)])
async def test_unfiltered_bucket_percentiles_are_exact(
    client: httpx.AsyncClient, aggregation: str, bucket: str, width_s: int
) -> None:
    """Only the metric's name filters here, so SQLite takes its per-bucket ORDER BY …
    LIMIT/OFFSET path (both directions: p50 from the bottom, p9x from the top); buckets
    hold 1, 2 and many points with ties. Model: ``statistics.quantiles(inclusive)``."""
    name = f"u_{uuid.uuid4().hex[:8]}"
    rng = random.Random(aggregation + bucket)
    points: list[tuple[int, float]] = []
    for session_index in range(4):
        session = await new_session(client)
        mine = [
            (rng.randrange(0, 3 * 86_400), rng.choice([rng.uniform(-50, 500), 7.0, 7.0]))
            for _ in range(40 + 30 * session_index)
        ]
        if session_index == 0:
            mine += [(3 * 86_400 + 5, 1.5), (4 * 86_400 + 7, 2.5), (4 * 86_400 + 9, -2.5)]
        items = [
            {"op": "metric", "session_id": session, "name": name, "value": v, "timestamp": _ts(t)}
            for t, v in mine
        ]
        assert (await client.post("/api/batch", json={"items": items})).status_code == 200
        points += mine
    by_bucket: dict[int, list[float]] = {}
    for t, v in points:
        by_bucket.setdefault(t - t % width_s, []).append(v)
    percent = int(aggregation[1:])
    expected = [
        (_ts(start), model_percentile(percent, values, []))
        for start, values in sorted(by_bucket.items())
    ]
    response = await client.get(
        f"/api/metrics/series?name={name}&aggregation={aggregation}&bucket={bucket}"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    got = [(p["timestamp"], p["value"]) for p in body["points"]]
    assert [t for t, _ in got] == [t for t, _ in expected]
    assert [v for _, v in got] == pytest.approx([v for _, v in expected], rel=1e-9, abs=1e-9)
    assert body["sessions_matched"] == 4 and body["points_matched"] == len(expected)


PLAIN_STATISTICS: dict[str, Any] = {
    "count": lambda values: float(len(values)),
    "sum": math.fsum,
    "avg": statistics.fmean,
    "all": statistics.fmean,  # a line needs one value per bucket
    "peak": max,
    "min": min,
}


@pytest.mark.parametrize("aggregation", sorted(PLAIN_STATISTICS))
@pytest.mark.parametrize(("bucket", "width_s"), [("1h", 3600), ("1d", 86_400)])
@pytest.mark.parametrize("window", [False, True])
async def test_unfiltered_bucket_statistics_are_exact(
    client: httpx.AsyncClient, aggregation: str, bucket: str, width_s: int, window: bool
) -> None:
    """Only the name (and a time range) filters here, so SQLite reads each bucket's range
    of the index with a statement of its own; buckets hold 1, 2 and many points, and the
    range's edges cut through buckets. Model: the points themselves, bucketed here."""
    name = f"s_{uuid.uuid4().hex[:8]}"
    rng = random.Random(f"{aggregation}{bucket}{window}")
    points: list[tuple[int, float]] = []
    for session_index in range(3):
        session = await new_session(client)
        mine = [
            (rng.randrange(0, 3 * 86_400), rng.choice([rng.uniform(-50, 500), 7.0]))
            for _ in range(30 + 20 * session_index)
        ]
        if session_index == 0:
            mine += [(3 * 86_400 + 5, 1.5), (4 * 86_400 + 7, 2.5), (4 * 86_400 + 9, -2.5)]
            mine += [(7_200, 4.0), (86_400, 9.0)]  # on buckets' edges
        items = [
            {"op": "metric", "session_id": session, "name": name, "value": v, "timestamp": _ts(t)}
            for t, v in mine
        ]
        assert (await client.post("/api/batch", json={"items": items})).status_code == 200
        points += mine
    since, until = (5_400, 4 * 86_400 + 8) if window else (0, 5 * 86_400)
    by_bucket: dict[int, list[float]] = {}
    for t, v in points:
        if since <= t < until:
            by_bucket.setdefault(t - t % width_s, []).append(v)
    expected = [
        (_ts(start), PLAIN_STATISTICS[aggregation](values))
        for start, values in sorted(by_bucket.items())
    ]
    query = f"name={name}&aggregation={aggregation}&bucket={bucket}"
    if window:
        query += f"&since={_ts(since)}&until={_ts(until)}"
    response = await client.get(f"/api/metrics/series?{query}")
    assert response.status_code == 200, response.text
    body = response.json()
    got = [(p["timestamp"], p["value"]) for p in body["points"]]
    assert [t for t, _ in got] == [t for t, _ in expected]
    assert [v for _, v in got] == pytest.approx([v for _, v in expected], rel=1e-9, abs=1e-9)
    assert body["points_matched"] == len(expected)


@pytest.mark.parametrize("aggregation", ["sum", "count", "avg"])
async def test_unfiltered_daily_buckets_weigh_histograms(
    client: httpx.AsyncClient, product: str, aggregation: str
) -> None:
    """The per-bucket statements treat a histogram as one point at its mean; the buckets
    holding one are answered weighed by its count, as on every other path."""
    metric = f"h_{uuid.uuid4().hex[:6]}"
    seeded = await seed(client, product, metric, random.Random("u" + aggregation))
    partitions: dict[str, tuple[list[Point], list[Histogram]]] = {}
    for _, points, histograms in seeded.values():
        for t, v in points:
            partitions.setdefault(_ts(t - t % 86_400), ([], []))[0].append((t, v))
        for h in histograms:
            partitions.setdefault(_ts(h[0] - h[0] % 86_400), ([], []))[1].append(h)
    response = await client.get(
        f"/api/metrics/series?name={metric}&aggregation={aggregation}&bucket=1d"
    )
    assert response.status_code == 200, response.text
    got = {point["timestamp"]: point["value"] for point in response.json()["points"]}
    expected = {day: model(aggregation, *parts) for day, parts in partitions.items()}
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("aggregation", ["p50", "p95"])
async def test_per_session_percentiles_within_a_time_range_by_version(
    client: httpx.AsyncClient, product: str, aggregation: str
) -> None:
    """SQLite's per-session LIMIT/OFFSET path with every filter it takes: product, since,
    until, grouped by version; the model keeps only the points in [since, until)."""
    name = f"r_{uuid.uuid4().hex[:8]}"
    rng = random.Random(aggregation)
    expected: dict[str, tuple[str, float]] = {}
    since, until = 86_400, 2 * 86_400
    for index in range(6):
        version = ("1.4", "1.5")[index % 2]
        session = await new_session(client, product=product, version=version)
        mine = [
            (rng.randrange(0, 3 * 86_400), rng.choice([rng.uniform(0, 100), 7.0]))
            for _ in range(5 + 20 * index)
        ]
        items = [
            {"op": "metric", "session_id": session, "name": name, "value": v, "timestamp": _ts(t)}
            for t, v in mine
        ]
        assert (await client.post("/api/batch", json={"items": items})).status_code == 200
        inside = [v for t, v in mine if since <= t < until]
        if inside:
            expected[session] = (version, model_percentile(int(aggregation[1:]), inside, []))
    response = await client.get(
        f"/api/metrics/series?name={name}&product={product}&aggregation={aggregation}"
        f"&group_by=version&since={_ts(since)}&until={_ts(until)}"
    )
    assert response.status_code == 200, response.text
    got = {
        point["session_id"]: (group["group"], point["value"])
        for group in response.json()["groups"]
        for point in group["points"]
    }
    assert got.keys() == expected.keys()
    for session, (version, value) in expected.items():
        assert got[session][0] == version
        assert got[session][1] == pytest.approx(value, rel=1e-9, abs=1e-9)
