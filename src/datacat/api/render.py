"""Stored rows → the wire's JSON shapes (shared by the API, the export and the web UI)."""

from __future__ import annotations

from typing import Any

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


def session_detail(row: dict[str, Any]) -> dict[str, Any]:
    body = session_summary(row)
    body["events"] = [event_out(e) for e in row["events"]]
    body["metrics"] = [metric_out(m) for m in row["metrics"]]
    return body


def event_out(row: dict[str, Any]) -> dict[str, Any]:
    body = {"timestamp": to_rfc3339(row["ts_us"]), "name": row["name"], "data": row["data"]}
    if "id" in row:
        body["id"] = row["id"]
    return body


def metric_out(row: dict[str, Any]) -> dict[str, Any]:
    body = {
        "timestamp": to_rfc3339(row["ts_us"]),
        "name": row["name"],
        "value": row["value"],
        "tags": row["tags"],
    }
    if "id" in row:
        body["id"] = row["id"]
    return body


def state_patch(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "timestamp": to_rfc3339(row["ts_us"]), "patch": row["patch"]}
