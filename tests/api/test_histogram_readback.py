"""A session's metrics read back with their buckets (``GET /api/sessions/{id}/metrics``).

A pre-aggregated histogram comes back with the ``count`` and ``buckets`` it was sent with
(``le`` ascending, +Inf last) beside its mean; a plain metric keeps exactly the keys it had
before histograms. Every answer here also matches a strict copy of the documented schema.
Buckets are read once per page, whatever the page holds, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import jsonschema_rs
import pytest
from sqlalchemy import event

from datacat.app import create_app
from datacat.settings import Settings
from datacat.store.repository import Repository
from support.schemas import strict

FRAME_BUCKETS = [{"le": 16.7, "count": 950}, {"le": 33.3, "count": 40}, {"le": None, "count": 10}]
FRAME = {
    "name": "frame_ms",
    "kind": "histogram",
    "unit": "ms",
    "buckets": FRAME_BUCKETS,
    "sum": 12345.6,
    "count": 1000,
}
PLAIN_KEYS = {"id", "timestamp", "name", "value", "tags", "kind", "unit"}


def _page_validator() -> jsonschema_rs.Draft202012Validator:
    document = create_app(Settings(database_url="sqlite+aiosqlite:///unused.db")).openapi()
    answer = document["paths"]["/api/sessions/{session_id}/metrics"]["get"]["responses"]["200"]
    schema = strict(answer["content"]["application/json"]["schema"])
    return jsonschema_rs.Draft202012Validator(
        {**schema, "components": strict(document["components"])}
    )


PAGE_SCHEMA = _page_validator()


async def new_session(client: httpx.AsyncClient) -> str:
    response = await client.post("/api/sessions")
    assert response.status_code == 200, response.text
    return str(response.json()["session_id"])


async def read_page(client: httpx.AsyncClient, session: str, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/api/sessions/{session}/metrics", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    errors = [e.message for e in PAGE_SCHEMA.iter_errors(body)]
    assert not errors, errors
    return body


async def read_all(client: httpx.AsyncClient, session: str, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        page = await read_page(client, session, **params)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def _ts(second: int) -> str:
    return f"2026-05-01T00:{second // 60:02d}:{second % 60:02d}.000001Z"


async def test_a_posted_histogram_comes_back_as_sent(client: httpx.AsyncClient) -> None:
    session = await new_session(client)
    for body in (FRAME | {"timestamp": _ts(1)}, {"name": "cpu", "value": 4.5, "timestamp": _ts(2)}):
        response = await client.post(f"/api/sessions/{session}/metrics", json=body)
        assert response.status_code == 200, response.text
    histogram, plain = (await read_page(client, session))["items"]
    assert histogram["count"] == 1000
    assert histogram["buckets"] == FRAME_BUCKETS
    assert histogram["value"] == pytest.approx(12.3456)
    assert (histogram["kind"], histogram["unit"], histogram["tags"]) == ("histogram", "ms", None)
    assert plain.keys() == PLAIN_KEYS
    assert (plain["name"], plain["value"], plain["kind"]) == ("cpu", 4.5, "gauge")


async def test_odd_histograms_come_back_as_sent(client: httpx.AsyncClient) -> None:
    """Negative and tiny bounds, a lone +Inf bucket, an empty histogram, no +Inf bucket."""
    shapes = [
        [{"le": -1.5, "count": 3}, {"le": 1e-300, "count": 0}, {"le": 2.5e10, "count": 7}],
        [{"le": None, "count": 4}],
        [{"le": 0.1, "count": 0}, {"le": None, "count": 0}],
        [{"le": float(i), "count": i} for i in range(64)],
    ]
    session = await new_session(client)
    items = [
        {"op": "metric", "session_id": session, "name": "lat", "kind": "histogram"}
        | {"buckets": buckets, "count": sum(b["count"] for b in buckets), "sum": 1.0}
        | {"timestamp": _ts(i)}
        for i, buckets in enumerate(shapes)
    ]
    assert (await client.post("/api/batch", json={"items": items})).status_code == 200
    found = (await read_page(client, session))["items"]
    assert [(item["count"], item["buckets"]) for item in found] == [
        (sum(b["count"] for b in buckets), buckets) for buckets in shapes
    ]


async def test_paging_across_histograms_keeps_each_ones_buckets(
    client: httpx.AsyncClient,
) -> None:
    """Pages of every size over plain points and histograms of several names, some of
    them at one time: each histogram keeps its own buckets, each plain point has none."""
    session = await new_session(client)
    sent: list[dict[str, Any]] = []
    for i in range(23):
        if i % 3 == 0:
            sent.append({"name": "cpu", "value": float(i), "timestamp": _ts(i)})
            continue
        buckets = [{"le": float(i), "count": i}, {"le": float(i + 1), "count": 1}]
        if i % 2:
            buckets.append({"le": None, "count": 2})
        sent.append(
            {
                "name": "frame_ms" if i % 4 else "io_ms",
                "kind": "histogram",
                "buckets": buckets,
                "count": sum(b["count"] for b in buckets),
                "sum": float(i),
                "timestamp": _ts(i - i % 2),  # frame_ms and io_ms pairs share a time
            }
        )
    items = [{"op": "metric", "session_id": session} | body for body in sent]
    assert (await client.post("/api/batch", json={"items": items})).status_code == 200
    # A write stores its plain points before its histograms: compare as sets.
    expected = sorted(
        [(b["timestamp"], b["name"], b.get("count"), b.get("buckets")) for b in sent], key=repr
    )
    for limit in (1, 2, 5, 23, 100):
        found = await read_all(client, session, limit)
        assert len(found) == len(sent)
        assert (
            sorted(
                [(m["timestamp"], m["name"], m.get("count"), m.get("buckets")) for m in found],
                key=repr,
            )
            == expected
        )
        assert all(m.keys() == PLAIN_KEYS for m in found if m["name"] == "cpu")


async def test_histograms_sharing_a_time_keep_their_own_buckets(
    client: httpx.AsyncClient,
) -> None:
    """A batch without timestamps stamps every item with one instant, so histograms of one
    name share their (session, name, time) key — keyed and plain ones, and equal ones."""
    session = await new_session(client)
    second = [{"le": 5.0, "count": 2}, {"le": 50.0, "count": 1}]
    third = [{"le": 20.0, "count": 9}, {"le": 40.0, "count": 0}]
    bodies = [
        FRAME | {"id": "keyed-1"},
        {**FRAME, "buckets": second, "count": 3},
        {**FRAME, "buckets": third, "count": 9},
        FRAME,
    ]
    items = [{"op": "metric", "session_id": session} | body for body in bodies]
    assert (await client.post("/api/batch", json={"items": items})).status_code == 200
    for limit in (1, 100):
        found = await read_all(client, session, limit)
        assert len({m["timestamp"] for m in found}) == 1
        assert sorted((m["count"], m["buckets"]) for m in found) == sorted(
            [(1000, FRAME_BUCKETS), (3, second), (9, third), (1000, FRAME_BUCKETS)]
        )


@contextmanager
def bucket_reads(repo: Repository) -> Iterator[list[str]]:
    """The statements that read ``metric_buckets`` while the block runs."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "metric_buckets" in statement:
            seen.append(statement)

    engine = repo.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_buckets_are_read_once_per_page(client: httpx.AsyncClient, repo: Repository) -> None:
    session = await new_session(client)
    items = [
        {"op": "metric", "session_id": session} | FRAME | {"timestamp": _ts(i)} for i in range(40)
    ]
    assert (await client.post("/api/batch", json={"items": items})).status_code == 200
    cpu = {"name": "cpu", "value": 1.0}
    assert (await client.post(f"/api/sessions/{session}/metrics", json=cpu)).status_code == 200
    with bucket_reads(repo) as reads:
        page = await read_page(client, session, limit=30)
    assert len(reads) == 1
    assert all(m["buckets"] == FRAME_BUCKETS for m in page["items"])
    with bucket_reads(repo) as reads:
        rest = await read_page(client, session, cursor=page["next_cursor"], limit=30)
    assert len(reads) == 1
    assert [m.get("count") for m in rest["items"]] == [1000] * 10 + [None]
    plain_only = await new_session(client)
    await client.post(f"/api/sessions/{plain_only}/metrics", json={"name": "cpu", "value": 1})
    with bucket_reads(repo) as reads:
        await read_page(client, plain_only)
    assert reads == []


async def test_newest_first_pages_carry_buckets_too(
    client: httpx.AsyncClient, repo: Repository
) -> None:
    """What the session page asks for: the newest metric of a name."""
    session = await new_session(client)
    older = {**FRAME, "buckets": [{"le": 1.0, "count": 1000}], "timestamp": _ts(1)}
    items = [
        {"op": "metric", "session_id": session} | body
        for body in (older, FRAME | {"timestamp": _ts(2)})
    ]
    assert (await client.post("/api/batch", json={"items": items})).status_code == 200
    (newest,) = (
        await repo.list_metrics(session, name="frame_ms", limit=1, newest_first=True)
    ).items
    assert newest["observations"] == 1000
    assert newest["buckets"] == [(16.7, 950), (33.3, 40), (None, 10)]
