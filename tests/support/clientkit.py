"""For tests of the Python client: a batching config that keeps them fast, and a reader
of what the server really stored (not what the client believes it sent)."""

from __future__ import annotations

from typing import Any

import httpx

from datacat_client import BatchConfig

FAST = BatchConfig(
    flush_interval=0.05,
    initial_backoff=0.05,
    max_backoff=0.5,
    close_timeout=30.0,
    read_flush_timeout=30.0,
)
"""Short intervals so tests spend their time testing; generous deadlines for loaded machines."""


def stored_metrics(url: str, session_id: str) -> list[dict[str, Any]]:
    """Every stored metric of a session, through the paged endpoint."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 10_000}
        if cursor:
            params["cursor"] = cursor
        page = httpx.get(f"{url}/api/sessions/{session_id}/metrics", params=params, timeout=30)
        page.raise_for_status()
        body = page.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            return items
