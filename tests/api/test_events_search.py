"""GET /api/events: every session's events, newest first, filtered and paged.

Each test seeds its own product, and the expected answers come from a plain Python model of
what was logged (filtered and sorted in Python), so the SQL is checked against an
independent statement of the rules rather than against itself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

BASE = "2026-03-01T10:00:{:02d}.000000Z"


@dataclass(frozen=True)
class Logged:
    order: int  # arrival: the server's tie-break between equal timestamps
    second: int
    name: str
    level: str | None
    message: str | None
    session: str
    version: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (BASE.format(self.second), self.name, self.session)


# (session, second, name, level, message): ties at second 5 and 7 test the id tie-break.
PLAN: list[tuple[str, int, str, str | None, str | None]] = [
    ("a", 1, "started", None, None),
    ("a", 5, "Frame_Dropped", "warning", "dropped 3 frames"),
    ("b", 5, "frame_dropped", "warning", None),
    ("b", 2, "started", "debug", "boot"),
    ("a", 7, "crash", "error", "Disk 100%_FULL"),
    ("b", 7, "crash", "critical", "disk 100 full"),
    ("c", 3, "note", "info", "plain"),
    ("c", 9, "upload", None, "Upload failed: FRAME too big"),
    ("a", 4, "note", "info", "100%"),
]
VERSIONS = {"a": "1.0", "b": "2.0", "c": "2.0"}


@pytest.fixture
async def seeded(client: httpx.AsyncClient) -> tuple[str, list[Logged]]:
    product = f"evs-{uuid.uuid4().hex[:8]}"
    sids = {}
    for name, version in VERSIONS.items():
        created = await client.post("/api/sessions", json={"product": product, "version": version})
        sids[name] = created.json()["session_id"]
    model = []
    for order, (session, second, name, level, message) in enumerate(PLAN):
        body: dict[str, Any] = {"name": name, "timestamp": BASE.format(second)}
        if level is not None:
            body["level"] = level
        if message is not None:
            body["message"] = message
        answer = await client.post(f"/api/sessions/{sids[session]}/events", json=body)
        assert answer.status_code == 200, answer.text
        model.append(Logged(order, second, name, level, message, sids[session], VERSIONS[session]))
    return product, model


def newest_first(model: list[Logged]) -> list[tuple[str, str, str]]:
    return [e.key for e in sorted(model, key=lambda e: (e.second, e.order), reverse=True)]


async def search(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    answer = await client.get("/api/events", params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def keys(body: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(e["timestamp"], e["name"], e["session_id"]) for e in body["items"]]


async def test_newest_first_with_the_session_of_each_event(
    client: httpx.AsyncClient, seeded: tuple[str, list[Logged]]
) -> None:
    product, model = seeded
    body = await search(client, product=product)
    assert keys(body) == newest_first(model)
    assert body["next_cursor"] is None
    first = body["items"][0]
    upload = next(e for e in model if e.name == "upload")
    assert first["session_id"] == upload.session
    assert (first["product"], first["version"], first["level"]) == (product, "2.0", "info")
    assert first["message"] == "Upload failed: FRAME too big"


@pytest.mark.parametrize(
    ("params", "rule"),
    [
        ({"name": "crash"}, lambda e: e.name == "crash"),
        ({"name": "frame_dropped"}, lambda e: e.name == "frame_dropped"),  # exact, case kept
        ({"level": "warning"}, lambda e: e.level == "warning"),
        # No level stored reads as info.
        ({"level": "info"}, lambda e: (e.level or "info") == "info"),
        ({"version": "2.0"}, lambda e: e.version == "2.0"),
        ({"level": "error", "version": "2.0"}, lambda e: False),
        ({"q": "frame"}, lambda e: "frame" in e.name.lower() + " " + (e.message or "").lower()),
        # LIKE wildcards are literal: "100%_" is only in one message.
        ({"q": "100%_"}, lambda e: "100%_" in (e.message or "").lower()),
        ({"q": "%"}, lambda e: "%" in (e.message or "")),
        ({"q": "_"}, lambda e: "_" in e.name + (e.message or "")),
        (
            {"since": BASE.format(4), "until": BASE.format(7)},
            lambda e: 4 <= e.second < 7,
        ),
    ],
)
async def test_filters_match_the_model(
    client: httpx.AsyncClient, seeded: tuple[str, list[Logged]], params: Any, rule: Any
) -> None:
    product, model = seeded
    expected = newest_first([e for e in model if rule(e)])
    assert keys(await search(client, product=product, **params)) == expected


@pytest.mark.parametrize("limit", [1, 2, 4])
async def test_pages_have_no_gaps_or_repeats(
    client: httpx.AsyncClient, seeded: tuple[str, list[Logged]], limit: int
) -> None:
    product, model = seeded
    seen: list[tuple[str, str, str]] = []
    cursor = None
    for _ in range(len(model) + 1):
        params: dict[str, Any] = {"product": product, "limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        body = await search(client, **params)
        assert len(body["items"]) <= limit
        seen += keys(body)
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == newest_first(model)


async def test_an_event_logged_later_with_an_old_timestamp_sorts_by_its_time(
    client: httpx.AsyncClient, seeded: tuple[str, list[Logged]]
) -> None:
    product, model = seeded
    sid = model[0].session
    late = {"name": "late", "timestamp": BASE.format(0)}
    assert (await client.post(f"/api/sessions/{sid}/events", json=late)).status_code == 200
    assert keys(await search(client, product=product))[-1] == (BASE.format(0), "late", sid)


@pytest.mark.parametrize(
    "params",
    [
        {"level": "fatal"},
        {"q": ""},
        {"q": "a\x00b"},
        {"cursor": "abc"},
        {"cursor": "12"},
        {"limit": 0},
        {"limit": 1001},
        {"since": "yesterday"},
    ],
)
async def test_bad_parameters_are_a_422_naming_the_problem(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    answer = await client.get("/api/events", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"]
