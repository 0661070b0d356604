"""Release health (``GET /api/releases``) against figures worked out here from the seed.

Sessions are made through the API and then moved in time with one UPDATE each (creation
and end times cannot be chosen over HTTP), so durations, days and first/last seen are
known exactly; the expected answer is computed from that list in plain Python.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from datacat.store.tables import sessions

DAY_S = 86_400
BASE_US = 1_780_000_000 * 1_000_000 - (1_780_000_000 * 1_000_000) % (DAY_S * 1_000_000)
"""Midnight UTC of a day in 2026: the seed's sessions start on it and the days after."""


@dataclass(frozen=True)
class Seeded:
    version: str
    outcome: str  # ended, crashed, hung, abandoned, active
    day: int
    offset_s: int  # start, seconds after that day's midnight
    duration_s: int

    @property
    def created_us(self) -> int:
        return BASE_US + (self.day * DAY_S + self.offset_s) * 1_000_000

    @property
    def last_us(self) -> int:
        return self.created_us + self.duration_s * 1_000_000


SEED = [
    Seeded("1.0", "ended", 0, 100, 60),
    Seeded("1.0", "ended", 0, 200, 30),
    Seeded("1.0", "crashed", 1, 50, 10),
    Seeded("1.0", "hung", 1, 70, 5),
    Seeded("1.0", "ended", 2, 10, 45),
    Seeded("1.0", "abandoned", 2, 20, 3),
    Seeded("1.1", "crashed", 3, 0, 7),
    Seeded("1.1", "crashed", 3, 5, 9),
    Seeded("1.1", "active", 4, 0, 1),
]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    made = create_async_engine(database_url)
    yield made
    await made.dispose()


async def seed(client: httpx.AsyncClient, engine: AsyncEngine, product: str) -> None:
    for item in SEED:
        body: dict[str, Any] = {"product": product, "version": item.version}
        if item.outcome == "abandoned":
            body["heartbeat_timeout"] = 1
        sid = (await client.post("/api/sessions", json=body)).json()["session_id"]
        if item.outcome in ("ended", "crashed"):
            end = {"status": item.outcome}
            assert (await client.post(f"/api/sessions/{sid}/end", json=end)).status_code == 200
        elif item.outcome == "hung":
            hung = {"name": "application_appears_hung"}
            assert (await client.post(f"/api/sessions/{sid}/events", json=hung)).status_code == 200
        ended = item.last_us if item.outcome in ("ended", "crashed") else None
        async with engine.begin() as conn:
            await conn.execute(
                update(sessions)
                .where(sessions.c.id == sid)
                .values(created_us=item.created_us, last_seen_us=item.last_us, ended_us=ended)
            )
    # The sweeper (every 0.2 s in tests) marks the silent one abandoned.
    for _ in range(200):
        found = await client.get(
            "/api/sessions", params={"product": product, "status": "abandoned"}
        )
        if found.json()["items"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the sweeper never marked the silent session abandoned")


def expected(version: str) -> dict[str, Any]:
    mine = [s for s in SEED if s.version == version]
    counts = {
        o: sum(s.outcome == o for s in mine)
        for o in ("active", "ended", "crashed", "hung", "abandoned")
    }
    finished = [s.duration_s for s in mine if s.outcome in ("ended", "crashed")]
    days = sorted({s.day for s in mine})
    daily = []
    for day in days:
        that_day = [s for s in mine if s.day == day]
        crashed = sum(s.outcome == "crashed" for s in that_day)
        daily.append(
            {
                "day": time.strftime("%Y-%m-%d", time.gmtime(BASE_US // 1_000_000 + day * DAY_S)),
                "sessions": len(that_day),
                "crashed": crashed,
                "crash_free_rate": 1 - crashed / len(that_day),
            }
        )
    return {
        "version": version,
        "sessions": len(mine),
        **counts,
        "crash_free_rate": 1 - counts["crashed"] / len(mine),
        "hang_free_rate": 1 - counts["hung"] / len(mine),
        "median_duration_s": statistics.median(finished) if finished else None,
        "first": min(s.created_us for s in mine),
        "last": max(s.last_us for s in mine),
        "daily": daily,
    }


def us_of(text: str) -> int:
    seconds = time.mktime(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    return int(seconds) * 1_000_000 + int(text[20:26])


async def test_release_figures_match_the_seed(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    product = f"rel-{uuid.uuid4().hex[:8]}"
    await seed(client, engine, product)
    answer = await client.get("/api/releases", params={"product": product})
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    # Newest activity first: 1.1's last session is later than any of 1.0's.
    assert [r["version"] for r in items] == ["1.1", "1.0"]
    for release in items:
        want = expected(release["version"])
        assert release["product"] == product
        for key in ("sessions", "active", "ended", "crashed", "hung", "abandoned", "daily"):
            assert release[key] == want[key], (release["version"], key)
        assert release["crash_free_rate"] == pytest.approx(want["crash_free_rate"])
        assert release["hang_free_rate"] == pytest.approx(want["hang_free_rate"])
        assert release["median_duration_s"] == pytest.approx(want["median_duration_s"])
        assert us_of(release["first_seen"]) == want["first"]
        assert us_of(release["last_seen"]) == want["last"]
    # Even count (1.0: 60, 30, 10, 45 → 37.5) and even count again (1.1: 7, 9 → 8).
    assert [r["median_duration_s"] for r in items] == [8.0, 37.5]


async def test_days_keeps_the_latest_days_and_limit_the_newest_releases(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    product = f"rel-{uuid.uuid4().hex[:8]}"
    await seed(client, engine, product)
    answer = (await client.get("/api/releases", params={"product": product, "days": 2})).json()
    old = next(r for r in answer["items"] if r["version"] == "1.0")
    assert [d["day"] for d in old["daily"]] == [d["day"] for d in expected("1.0")["daily"][-2:]]
    newest = (await client.get("/api/releases", params={"product": product, "limit": 1})).json()
    assert [r["version"] for r in newest["items"]] == ["1.1"]


async def test_an_unknown_product_has_no_releases(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/releases", params={"product": "no-such-product-anywhere"})
    assert answer.json() == {"items": []}


@pytest.mark.parametrize(
    "query", ["days=0", "days=367", "limit=0", "limit=1001", "product=a%00b", "days=x"]
)
async def test_bad_parameters_are_a_named_422(client: httpx.AsyncClient, query: str) -> None:
    answer = await client.get(f"/api/releases?{query}")
    assert answer.status_code == 422
    assert answer.json()["detail"]


async def test_sessions_without_a_version_form_one_release_with_an_odd_median(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    product = f"rel-{uuid.uuid4().hex[:8]}"
    for offset, duration in ((0, 5), (10, 1), (20, 9)):
        sid = (await client.post("/api/sessions", json={"product": product})).json()["session_id"]
        await client.post(f"/api/sessions/{sid}/end")
        created = BASE_US + offset * 1_000_000
        async with engine.begin() as conn:
            await conn.execute(
                update(sessions)
                .where(sessions.c.id == sid)
                .values(
                    created_us=created,
                    ended_us=created + duration * 1_000_000,
                    last_seen_us=created + duration * 1_000_000,
                )
            )
    items = (await client.get("/api/releases", params={"product": product})).json()["items"]
    assert len(items) == 1
    release = items[0]
    assert (release["version"], release["sessions"], release["ended"]) == (None, 3, 3)
    assert release["median_duration_s"] == 5.0
    assert release["crash_free_rate"] == 1.0
    assert release["daily"] == [
        {
            "day": time.strftime("%Y-%m-%d", time.gmtime(BASE_US // 1_000_000)),
            "sessions": 3,
            "crashed": 0,
            "crash_free_rate": 1.0,
        }
    ]
