"""Metric kinds and units, event levels, messages, categories and labels (issue 12):
stored from the single endpoints on both serving paths and from batches, absent fields
stored as NULL (read as ``gauge`` / ``info``), and bad values refused with a 422 naming
the field, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any, get_args

import httpx
import orjson
import pytest
from sqlalchemy import text

from datacat.api.schemas import MAX_MESSAGE, EventLevel, MetricKind
from datacat.settings import Settings
from datacat.store import transferformat
from datacat.store.repository import Repository

FULL_EVENT = {
    "name": "disk",
    "data": {"free": 3},
    "level": "warning",
    "message": "disk almost full",
    "category": "storage",
    "labels": ["io", "disk"],
}
FULL_METRIC = {"name": "frame", "value": 16.7, "kind": "timer", "unit": "ms"}


async def stored(repo: Repository, table: str, session_id: str) -> list[dict[str, Any]]:
    """The session's rows as the database holds them (JSON columns as decoded values)."""
    columns = (
        "name, level, message, category, labels" if table == "events" else "name, value, kind, unit"
    )
    async with repo.engine.connect() as conn:
        rows = await conn.execute(
            text(
                f"SELECT {columns} FROM {table} JOIN sessions ON sessions.pk = session_pk"
                " WHERE sessions.id = :id ORDER BY {table}.id".replace("{table}", table)
            ),
            {"id": session_id},
        )
        found = [dict(row._mapping) for row in rows]
    for row in found:
        if isinstance(row.get("labels"), str):
            row["labels"] = orjson.loads(row["labels"])
    return found


@pytest.mark.parametrize("path", ["fast", "plain"])
async def test_new_fields_are_stored_from_the_single_endpoints(
    client: httpx.AsyncClient, plain: httpx.AsyncClient, repo: Repository, path: str
) -> None:
    http = client if path == "fast" else plain
    session_id = (await http.post("/api/sessions")).json()["session_id"]
    for body in (FULL_EVENT, {"name": "plain"}):
        response = await http.post(f"/api/sessions/{session_id}/events", json=body)
        assert response.status_code == 200, response.text
    for body in (FULL_METRIC, {"name": "frame", "value": 1}):
        response = await http.post(f"/api/sessions/{session_id}/metrics", json=body)
        assert response.status_code == 200, response.text

    assert await stored(repo, "events", session_id) == [
        {
            "name": "disk",
            "level": "warning",
            "message": "disk almost full",
            "category": "storage",
            "labels": ["io", "disk"],
        },
        # An old-style request stores NULLs: the defaults are applied when reading.
        {"name": "plain", "level": None, "message": None, "category": None, "labels": None},
    ]
    assert await stored(repo, "metrics", session_id) == [
        {"name": "frame", "value": 16.7, "kind": "timer", "unit": "ms"},
        {"name": "frame", "value": 1.0, "kind": None, "unit": None},
    ]


async def test_new_fields_are_stored_from_a_batch(
    client: httpx.AsyncClient, repo: Repository, session_id: str
) -> None:
    items = [
        {"op": "event", "session_id": session_id, "id": "e1", **FULL_EVENT},
        {"op": "event", "session_id": session_id, "name": "plain"},
        {"op": "metric", "session_id": session_id, "id": "m1", **FULL_METRIC},
        {"op": "metric", "session_id": session_id, "name": "n", "value": 2, "kind": "counter"},
    ]
    response = await client.post("/api/batch", json={"items": items})
    assert response.status_code == 200, response.text
    # (Rows with a client id are inserted after those without, so compare by name.)
    events = {
        e["name"]: (e["level"], e["labels"]) for e in await stored(repo, "events", session_id)
    }
    assert events == {"disk": ("warning", ["io", "disk"]), "plain": (None, None)}
    metrics = {m["name"]: (m["kind"], m["unit"]) for m in await stored(repo, "metrics", session_id)}
    assert metrics == {"frame": ("timer", "ms"), "n": ("counter", None)}


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("events", {"name": "e", "level": "fatal"}, "level"),
        ("events", {"name": "e", "level": 3}, "level"),
        ("events", {"name": "e", "labels": "io"}, "labels"),
        ("events", {"name": "e", "labels": ["a\u0000b"]}, "labels"),
        ("events", {"name": "e", "message": "x" * 8193}, "message"),
        ("events", {"name": "e", "category": "c" * 257}, "category"),
        ("metrics", {"name": "m", "value": 1, "kind": "summary"}, "kind"),
        ("metrics", {"name": "m", "value": 1, "unit": ""}, "unit"),
        ("metrics", {"name": "m", "value": 1, "unit": "u" * 65}, "unit"),
    ],
)
@pytest.mark.parametrize("path", ["fast", "plain"])
async def test_bad_values_are_a_422_naming_the_field(
    client: httpx.AsyncClient,
    plain: httpx.AsyncClient,
    repo: Repository,
    session_id: str,
    path: str,
    kind: str,
    body: dict[str, Any],
    field: str,
) -> None:
    http = client if path == "fast" else plain
    response = await http.post(f"/api/sessions/{session_id}/{kind}", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][:2] == ["body", field]
    assert await stored(repo, kind, session_id) == []


async def test_too_many_labels_is_a_422_naming_the_limit(
    client: httpx.AsyncClient, repo: Repository, session_id: str
) -> None:
    labels = [f"l{i}" for i in range(Settings().max_metric_tags + 1)]
    response = await client.post(
        f"/api/sessions/{session_id}/events", json={"name": "e", "labels": labels}
    )
    assert response.status_code == 422
    assert "DATACAT_MAX_METRIC_TAGS" in response.text
    assert response.json()["detail"][0]["loc"] == ["body", "labels"]
    assert await stored(repo, "events", session_id) == []


EVENT_OUT = dict(FULL_EVENT)
PLAIN_EVENT_OUT = {
    "name": "plain",
    "data": None,
    "level": "info",
    "message": None,
    "category": None,
    "labels": None,
}
METRIC_OUT = {"name": "frame", "value": 16.7, "tags": None, "kind": "timer", "unit": "ms"}
PLAIN_METRIC_OUT = {"name": "frame", "value": 1.0, "tags": None, "kind": "gauge", "unit": None}


def without(items: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.items() if k not in keys} for item in items]


async def logged_session(http: httpx.AsyncClient) -> str:
    session_id: str = (await http.post("/api/sessions")).json()["session_id"]
    for body in (FULL_EVENT, {"name": "plain"}):
        assert (await http.post(f"/api/sessions/{session_id}/events", json=body)).status_code == 200
    for body in (FULL_METRIC, {"name": "frame", "value": 1}):
        response = await http.post(f"/api/sessions/{session_id}/metrics", json=body)
        assert response.status_code == 200
    return session_id


@pytest.mark.parametrize("path", ["fast", "plain"])
async def test_new_fields_are_answered_with_defaults_always_present(
    client: httpx.AsyncClient, plain: httpx.AsyncClient, path: str
) -> None:
    http = client if path == "fast" else plain
    session_id = await logged_session(http)
    # The session object (its events built by the database), on the serving path under test.
    document = (await http.get(f"/api/sessions/{session_id}")).json()
    assert without(document["events"], "timestamp") == [EVENT_OUT, PLAIN_EVENT_OUT]
    assert without(document["metrics"], "timestamp") == [METRIC_OUT, PLAIN_METRIC_OUT]
    # The paged listings (rendered in Python).
    events = (await http.get(f"/api/sessions/{session_id}/events")).json()["items"]
    assert without(events, "timestamp", "id") == [EVENT_OUT, PLAIN_EVENT_OUT]
    metrics = (await http.get(f"/api/sessions/{session_id}/metrics")).json()["items"]
    assert without(metrics, "timestamp", "id") == [METRIC_OUT, PLAIN_METRIC_OUT]
    # The Grafana export (every session object, events built by the database in bulk).
    exported = (await http.get("/api/grafana/sessions")).json()
    [mine] = [s for s in exported if s["id"] == session_id]
    assert without(mine["events"], "timestamp") == [EVENT_OUT, PLAIN_EVENT_OUT]
    assert without(mine["metrics"], "timestamp") == [METRIC_OUT, PLAIN_METRIC_OUT]


async def test_rows_written_before_the_migration_read_as_gauge_and_info(
    client: httpx.AsyncClient, repo: Repository, session_id: str
) -> None:
    """Rows as a server before migration 0004 wrote them: the new columns left NULL."""
    async with repo.engine.begin() as conn:
        pk = (
            await conn.execute(text("SELECT pk FROM sessions WHERE id = :id"), {"id": session_id})
        ).scalar_one()
        await conn.execute(
            text("INSERT INTO events (session_pk, ts_us, name) VALUES (:pk, 1000000, 'old')"),
            {"pk": pk},
        )
        await conn.execute(
            text(
                "INSERT INTO metrics (session_pk, ts_us, name, value)"
                " VALUES (:pk, 1000000, 'old', 2.5)"
            ),
            {"pk": pk},
        )
    document = (await client.get(f"/api/sessions/{session_id}")).json()
    old_event = {**PLAIN_EVENT_OUT, "name": "old", "timestamp": "1970-01-01T00:00:01.000000Z"}
    assert document["events"] == [old_event]
    old_metric = {**PLAIN_METRIC_OUT, "name": "old", "value": 2.5}
    assert without(document["metrics"], "timestamp") == [old_metric]
    events = (await client.get(f"/api/sessions/{session_id}/events")).json()["items"]
    assert without(events, "id") == [old_event]
    metrics = (await client.get(f"/api/sessions/{session_id}/metrics")).json()["items"]
    assert without(metrics, "id", "timestamp") == [old_metric]


def test_the_transfer_format_accepts_what_the_api_accepts() -> None:
    assert get_args(EventLevel) == transferformat.EVENT_LEVELS
    assert get_args(MetricKind) == transferformat.METRIC_KINDS
    assert transferformat.MAX_MESSAGE == MAX_MESSAGE


async def test_events_with_and_without_new_fields_keep_their_order_in_a_batch(
    client: httpx.AsyncClient, repo: Repository, session_id: str
) -> None:
    """Rows without issue 12's fields are inserted narrow, the others wide: each run of
    one width is its own insert, and the runs go in the order the items came."""
    names = ["a", "b", "c", "d", "e", "f"]
    items: list[dict[str, Any]] = [
        {"op": "event", "session_id": session_id, "name": name}
        | ({"level": "error"} if name in "bcf" else {})
        for name in names
    ] + [
        {"op": "metric", "session_id": session_id, "name": name, "value": 1}
        | ({"unit": "s"} if name in "ae" else {})
        for name in names
    ]
    response = await client.post("/api/batch", json={"items": items})
    assert response.status_code == 200, response.text
    events = await stored(repo, "events", session_id)
    assert [(e["name"], e["level"]) for e in events] == [
        (name, "error" if name in "bcf" else None) for name in names
    ]
    metrics = await stored(repo, "metrics", session_id)
    assert [(m["name"], m["unit"]) for m in metrics] == [
        (name, "s" if name in "ae" else None) for name in names
    ]
