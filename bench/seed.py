"""Fill a server with data quickly, through its public API only.

Sessions can only be opened one POST at a time, so they are created concurrently; every
event, metric and state update then goes in as ``POST /api/batch`` bodies of up to 5,000
items (the documented limit), several in flight so the group-commit writer stays busy.
Bodies are serialised with orjson up front so the client spends its time waiting, not
encoding.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson

BATCH_LIMIT = 5000

EVENT_DATA = {"action": "click", "target": "button-42", "x": 123, "y": 456}
"""The payload of every benchmark event: small and typical of UI/app telemetry."""

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


def timestamp(offset_ms: int) -> str:
    """An RFC 3339 time ``offset_ms`` after a fixed epoch (what a batching client sends)."""
    return (EPOCH + timedelta(milliseconds=offset_ms)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_item(session_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "op": "event",
        "session_id": session_id,
        "name": "user_action",
        "data": EVENT_DATA,
        **extra,
    }


def chunks(items: Iterable[dict[str, Any]], size: int = BATCH_LIMIT) -> Iterator[bytes]:
    """Serialise ``items`` as batch bodies of at most ``size`` items, in order."""
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield orjson.dumps({"items": batch})
            batch = []
    if batch:
        yield orjson.dumps({"items": batch})


def _client(url: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=url, limits=limits, timeout=120.0)


async def _create_sessions(
    url: str, count: int, concurrency: int, body: Callable[[int], dict[str, Any]] | None
) -> list[str]:
    ids = [""] * count
    todo = list(reversed(range(count)))
    async with _client(url, concurrency) as client:

        async def worker() -> None:
            while todo:
                index = todo.pop()
                json = body(index) if body is not None else None
                response = await client.post("/api/sessions", json=json)
                response.raise_for_status()
                ids[index] = response.json()["session_id"]

        await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    return ids


def create_sessions(
    url: str,
    count: int,
    concurrency: int = 16,
    body: Callable[[int], dict[str, Any]] | None = None,
) -> list[str]:
    """Open ``count`` sessions and return their ids, the ``i``-th made with ``body(i)``.

    Without ``body`` every session is opened with no body (no product or version), as the
    seed's client does; with it, e.g. ``{"product": ..., "version": ...}`` per index.
    """
    return asyncio.run(_create_sessions(url, count, concurrency, body))


async def _post_batches(url: str, bodies: Sequence[bytes], concurrency: int) -> int:
    accepted = 0
    queue = list(reversed(bodies))
    headers = {"content-type": "application/json"}
    async with _client(url, concurrency) as client:

        async def worker() -> None:
            nonlocal accepted
            while queue:
                body = queue.pop()
                response = await client.post("/api/batch", content=body, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"batch failed {response.status_code}: {response.text}")
                accepted += response.json()["accepted"]

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return accepted


def post_batches(url: str, bodies: Sequence[bytes], concurrency: int = 3) -> tuple[int, float]:
    """POST prepared batch bodies; return (items accepted, seconds taken)."""
    started = time.perf_counter()
    accepted = asyncio.run(_post_batches(url, bodies, concurrency))
    return accepted, time.perf_counter() - started


def seal(db: Path) -> None:
    """Fold the WAL into the database file (server stopped), so copying the file is enough."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
