"""How sessions move between active, hung, crashed, ended and abandoned."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import httpx


async def status_of(client: httpx.AsyncClient, session_id: str) -> str:
    return (await client.get(f"/api/sessions/{session_id}")).json()["status"]


async def event(client: httpx.AsyncClient, session_id: str, name: str, data: object = None) -> None:
    response = await client.post(
        f"/api/sessions/{session_id}/events", json={"name": name, "data": data}
    )
    assert response.status_code == 200


async def test_hung_then_recovered(client: httpx.AsyncClient, session_id: str) -> None:
    await event(client, session_id, "application_appears_hung", {"seconds_since_heartbeat": 61})
    assert await status_of(client, session_id) == "hung"
    await event(client, session_id, "application_recovered")
    assert await status_of(client, session_id) == "active"


async def test_fatal_exception_crashes_and_stays_crashed(
    client: httpx.AsyncClient, session_id: str
) -> None:
    await event(client, session_id, "exception", {"type": "ValueError", "fatal": False})
    assert await status_of(client, session_id) == "active"
    await event(client, session_id, "exception", {"type": "ValueError", "fatal": True})
    assert await status_of(client, session_id) == "crashed"
    await event(client, session_id, "application_recovered")
    await client.post(f"/api/sessions/{session_id}/end")
    session = (await client.get(f"/api/sessions/{session_id}")).json()
    assert session["status"] == "crashed" and session["active"] is False


async def test_end_marked_crashed(client: httpx.AsyncClient, session_id: str) -> None:
    response = await client.post(f"/api/sessions/{session_id}/end", json={"status": "crashed"})
    assert response.json() == {"status": "ok"}
    assert await status_of(client, session_id) == "crashed"


async def test_writes_after_end_are_kept_and_session_stays_inactive(
    client: httpx.AsyncClient, session_id: str
) -> None:
    await client.post(f"/api/sessions/{session_id}/end")
    first_end = (await client.get(f"/api/sessions/{session_id}")).json()["ended_at"]
    await event(client, session_id, "late")
    await client.post(f"/api/sessions/{session_id}/metrics", json={"name": "late", "value": 1})
    await client.post(f"/api/sessions/{session_id}/state", json={"late": True})
    await event(client, session_id, "application_appears_hung")
    await client.post(f"/api/sessions/{session_id}/end")
    session = (await client.get(f"/api/sessions/{session_id}")).json()
    assert session["active"] is False and session["status"] == "ended"
    assert session["ended_at"] == first_end
    assert [e["name"] for e in session["events"]] == ["late", "application_appears_hung"]
    assert session["metrics"][0]["name"] == "late" and session["state"] == {"late": True}


async def test_silent_session_is_abandoned_and_a_keepalive_revives_it(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/api/sessions", json={"heartbeat_timeout": 0.3})
    session_id = created.json()["session_id"]
    last_seen = (await client.get(f"/api/sessions/{session_id}")).json()["last_seen_at"]
    never = (await client.post("/api/sessions")).json()["session_id"]
    deadline = time.monotonic() + 20  # the sweeper runs every 0.2 s; a loaded machine lags
    while await status_of(client, session_id) != "abandoned":
        assert time.monotonic() < deadline, "not abandoned within 20 s"
        await asyncio.sleep(0.05)
    # Not before its timeout: the server's own last-seen stamp is a lower bound, no race.
    silent = time.time() - datetime.fromisoformat(last_seen.replace("Z", "+00:00")).timestamp()
    assert silent > 0.3
    # A session without a timeout is never judged by silence.
    assert await status_of(client, never) == "active"
    await client.post(f"/api/sessions/{session_id}/heartbeat")
    assert await status_of(client, session_id) == "active"
    session = (await client.get(f"/api/sessions/{session_id}")).json()
    assert session["active"] is True and session["heartbeat_timeout"] == 0.3


async def test_heartbeat_sets_timeout_and_updates_last_seen(
    client: httpx.AsyncClient, session_id: str
) -> None:
    before = (await client.get(f"/api/sessions/{session_id}")).json()["last_seen_at"]
    await asyncio.sleep(0.01)
    response = await client.post(f"/api/sessions/{session_id}/heartbeat", json={"timeout": 30})
    assert response.json() == {"status": "ok"}
    after = (await client.get(f"/api/sessions/{session_id}")).json()
    assert after["last_seen_at"] > before and after["heartbeat_timeout"] == 30


async def test_sweep_is_safe_to_repeat(fresh_repo) -> None:
    from datacat.store.ops import CreateSession

    session_id = fresh_repo.new_session_id()
    await fresh_repo.create_session(CreateSession(session_id, heartbeat_timeout_s=1))
    far_future = 2**62
    assert await fresh_repo.sweep_abandoned(now=far_future) == 1
    assert await fresh_repo.sweep_abandoned(now=far_future) == 0
    assert (await fresh_repo.get_session(session_id))["status"] == "abandoned"
