"""The session browser's issue-12 filters: version, an event's name, ever hung, text search.

Each test seeds its own product, so the expected ids are known exactly from what it logged.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest


async def make(client: httpx.AsyncClient, product: str, version: str, *events: str) -> str:
    body = {"product": product, "version": version}
    sid: str = (await client.post("/api/sessions", json=body)).json()["session_id"]
    for name in events:
        answer = await client.post(f"/api/sessions/{sid}/events", json={"name": name})
        assert answer.status_code == 200
    return sid


async def ids(client: httpx.AsyncClient, product: str, **params: Any) -> set[str]:
    answer = await client.get("/api/sessions", params={"product": product, **params})
    assert answer.status_code == 200, answer.text
    return {s["id"] for s in answer.json()["items"]}


@pytest.fixture
async def seeded(client: httpx.AsyncClient) -> dict[str, str]:
    product = f"flt-{uuid.uuid4().hex[:8]}"
    return {
        "product": product,
        "plain": await make(client, product, "1.0", "started", "Frame_Dropped"),
        "recovered": await make(
            client, product, "1.0", "application_appears_hung", "application_recovered"
        ),
        "hung": await make(client, product, "2.0", "started", "application_appears_hung"),
        "percent": await make(client, product, "2.0", "load 100%_done"),
        "silent": await make(client, product, "2.0"),
    }


async def test_version(client: httpx.AsyncClient, seeded: dict[str, str]) -> None:
    product = seeded["product"]
    assert await ids(client, product, version="1.0") == {seeded["plain"], seeded["recovered"]}
    assert await ids(client, product, version="3.0") == set()


async def test_has_an_event_named(client: httpx.AsyncClient, seeded: dict[str, str]) -> None:
    product = seeded["product"]
    assert await ids(client, product, event="started") == {seeded["plain"], seeded["hung"]}
    # Exact name: neither a prefix nor another case matches.
    assert await ids(client, product, event="start") == set()
    assert await ids(client, product, event="frame_dropped") == set()


async def test_ever_hung_includes_the_recovered(
    client: httpx.AsyncClient, seeded: dict[str, str]
) -> None:
    product = seeded["product"]
    assert await ids(client, product, ever_hung="true") == {seeded["recovered"], seeded["hung"]}
    never = {seeded["plain"], seeded["percent"], seeded["silent"]}
    assert await ids(client, product, ever_hung="false") == never
    # The status filter alone sees only the one still hung.
    assert await ids(client, product, status="hung") == {seeded["hung"]}


async def test_text_search_is_a_case_blind_substring(
    client: httpx.AsyncClient, seeded: dict[str, str]
) -> None:
    product = seeded["product"]
    assert await ids(client, product, q="FRAME_drop") == {seeded["plain"]}
    assert await ids(client, product, q="appears") == {seeded["recovered"], seeded["hung"]}
    # LIKE's wildcards are taken literally.
    assert await ids(client, product, q="100%_") == {seeded["percent"]}
    assert await ids(client, product, q="%") == {seeded["percent"]}
    assert await ids(client, product, q="_") == {
        seeded["plain"],
        seeded["recovered"],
        seeded["hung"],
        seeded["percent"],
    }


async def test_filters_combine(client: httpx.AsyncClient, seeded: dict[str, str]) -> None:
    product = seeded["product"]
    both = await ids(client, product, version="2.0", ever_hung="true", q="start")
    assert both == {seeded["hung"]}


@pytest.mark.parametrize("query", ["q=", "q=a%00", "event=a%00", "version=v%00", "ever_hung=maybe"])
async def test_bad_filters_are_a_named_422(client: httpx.AsyncClient, query: str) -> None:
    answer = await client.get(f"/api/sessions?{query}")
    assert answer.status_code == 422
    assert answer.json()["detail"]


async def test_text_search_reads_event_messages_too(
    client: httpx.AsyncClient, seeded: dict[str, str]
) -> None:
    product = seeded["product"]
    sid = await make(client, product, "3.0")
    event = {"name": "log", "level": "warning", "message": "Disk Almost FULL on /var"}
    assert (await client.post(f"/api/sessions/{sid}/events", json=event)).status_code == 200
    assert await ids(client, product, q="almost full") == {sid}
    assert await ids(client, product, q="log") == {sid}
