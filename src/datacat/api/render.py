"""Stored rows → the wire's JSON shapes (shared by the API, the export and the web UI)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import orjson

from datacat.timefmt import maybe_rfc3339, to_rfc3339


def session_summary(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "created_at": to_rfc3339(row["created_us"]),
        "updated_at": to_rfc3339(row["updated_us"]),
        "ended_at": maybe_rfc3339(row["ended_us"]),
        "last_seen_at": to_rfc3339(row["last_seen_us"]),
        "active": bool(row["active"]),
        "status": row["status"],
        "product": row["product"],
        "version": row["version"],
        "host": row["host"],
        "metadata": row["metadata"],
        "heartbeat_timeout": row["heartbeat_timeout_s"],
        "state": row["state"],
    }


def event_out(row: dict[str, Any]) -> dict[str, Any]:
    """Issue 12's fields are always present, NULL (an old row, an old client) read as the
    default, so a client never has to know which server version stored an event."""
    body = {
        "timestamp": to_rfc3339(row["ts_us"]),
        "name": row["name"],
        "data": row["data"],
        "level": row.get("level") or "info",
        "message": row.get("message"),
        "category": row.get("category"),
        "labels": row.get("labels"),
    }
    if "id" in row:
        body["id"] = row["id"]
    return body


def metric_out(row: dict[str, Any]) -> dict[str, Any]:
    body = {
        "timestamp": to_rfc3339(row["ts_us"]),
        "name": row["name"],
        "value": row["value"],
        "tags": row["tags"],
        "kind": row.get("kind") or "gauge",
        "unit": row.get("unit"),
    }
    if "id" in row:
        body["id"] = row["id"]
    if "buckets" in row:  # a histogram read with its buckets (``HistogramRecord``)
        body["count"] = row["observations"]
        body["buckets"] = [{"le": le, "count": count} for le, count in row["buckets"]]
    return body


def state_patch(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "timestamp": to_rfc3339(row["ts_us"]), "patch": row["patch"]}


async def session_objects(pieces: AsyncIterable[tuple[str, Any]]) -> AsyncIterator[bytes]:
    """The seed's session objects, comma-separated, from the repository's stream of
    ``("session", row)``, ``("events", json_bytes)`` and ``("metrics", rows)`` pieces.

    The events arrive as JSON text the database wrote and pass through untouched; only
    the session's head and its metrics are encoded here.
    """
    open_list: bytes | None = None  # what closes the current session: its events or metrics
    separator = b""
    async for kind, payload in pieces:
        if kind == "session":
            if open_list is not None:
                yield open_list + b","
            head = orjson.dumps(session_summary(payload))
            yield head[:-1] + b',"events":['
            open_list, separator = b'],"metrics":[]}', b""
        elif kind == "events":
            yield separator + payload
            separator = b","
        else:
            if open_list != b"]}":
                yield b'],"metrics":['
                open_list, separator = b"]}", b""
            yield separator + b",".join(orjson.dumps(metric_out(row)) for row in payload)
            separator = b","
    if open_list is not None:
        yield open_list
