"""GET /api/events finds the same page by each of its three ways (``store.eventsearch``).

The search walks the timestamp index for a page when nothing filters rows, confines the
walk to the newest ``RECENT_WINDOW`` events when something does, and falls back to one
sorted table scan when that window holds too few matches. The window is shrunk here so
each way answers the filters and paging of ``test_events_search`` against the same model.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from test_events_search import BASE, Logged, keys, newest_first, search, seeded

from datacat.store import eventsearch

__all__ = ["seeded"]  # the fixture, imported to be used here

CASES = [
    ({}, lambda e: True),
    ({"level": "warning"}, lambda e: e.level == "warning"),
    ({"level": "info"}, lambda e: (e.level or "info") == "info"),
    ({"q": "frame"}, lambda e: "frame" in e.name.lower() + " " + (e.message or "").lower()),
    ({"q": "100%_"}, lambda e: "100%_" in (e.message or "").lower()),
    ({"q": "no such text"}, lambda e: False),
    ({"version": "2.0", "since": BASE.format(3)}, lambda e: e.version == "2.0" and e.second >= 3),
]


class Ways:
    """Which of the three ways answered, counted by wrapping the store's fetch."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.used: set[str] = set()
        fetch = eventsearch._fetch

        async def counted(*args: Any, scan: bool = False) -> list[dict[str, Any]]:
            rows = await fetch(*args, scan=scan)
            self.used.add("scan" if scan else "walk")
            return rows

        monkeypatch.setattr(eventsearch, "_fetch", counted)


@pytest.mark.parametrize("window", [1, 3, 10_000_000])
@pytest.mark.parametrize("limit", [1, 2, 100])
async def test_every_way_pages_the_model(
    client: httpx.AsyncClient,
    seeded: tuple[str, list[Logged]],
    monkeypatch: pytest.MonkeyPatch,
    window: int,
    limit: int,
) -> None:
    product, model = seeded
    monkeypatch.setattr(eventsearch, "RECENT_WINDOW", window)
    ways = Ways(monkeypatch)
    for params, rule in CASES:
        seen: list[tuple[str, str, str]] = []
        cursor = None
        for _ in range(len(model) + 1):
            page = {"product": product, "limit": limit, **params}
            if cursor is not None:
                page["cursor"] = cursor
            body = await search(client, **page)
            assert len(body["items"]) <= limit
            seen += keys(body)
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == newest_first([e for e in model if rule(e)]), params
    # A one-event window cannot hold a page, so the scan answers; a huge one never needs it.
    if window == 1:
        assert ways.used == {"walk", "scan"}
    elif window == 10_000_000:
        assert ways.used == {"walk"}
