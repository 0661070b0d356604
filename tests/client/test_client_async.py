"""``AsyncDatacatClient`` and ``AsyncSession`` against the real server."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any

import httpx
import pytest

from datacat_client import (
    AsyncDatacatClient,
    AsyncSession,
    ConnectError,
    DatacatHandler,
    InvalidData,
    NotFound,
)
from support import FAST, free_port


async def _stored(url: str, session_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url) as http:
        return (await http.get(f"/api/sessions/{session_id}")).json()  # type: ignore[no-any-return]


async def test_async_client_every_call(url: str) -> None:
    async with AsyncDatacatClient(url) as client:
        sid = await client.register_session(product="p", metadata={"k": 1})
        await client.update_state(sid, {"a": {"b": 1}})
        await client.update_state(sid, {"a": {"c": 2}})
        await client.log_event(sid, "e", {"x": 1}, id="e1")
        await client.log_event(sid, "e", {"x": 1}, id="e1")
        await client.log_metric(sid, "m", 2, tags=["t"])
        try:
            raise ValueError("bad")
        except ValueError:
            await client.log_exception(sid, extra_data={"n": 1})
        await client.heartbeat(sid, timeout=30)
        batch = await client.send_batch(
            [{"op": "metric", "session_id": sid, "name": "b", "value": 1}]
        )
        assert batch["accepted"] == 1
        await client.end_session(sid)
        details = await client.get_session(sid)
        assert details["state"] == {"a": {"b": 1, "c": 2}}
        assert [e["name"] for e in details["events"]] == ["e", "exception"]
        assert details["events"][1]["data"]["type"] == "ValueError"
        assert details["events"][1]["data"]["n"] == 1
        assert [m["name"] for m in details["metrics"]] == ["m", "b"]
        assert details["status"] == "ended" and details["product"] == "p"
        assert sid in {s["id"] for s in await client.get_all_sessions()}
        with pytest.raises(NotFound):
            await client.get_session("nope")
        with pytest.raises(InvalidData):
            await client.log_metric(sid, "m", float("nan"))


async def test_async_client_connection_refused() -> None:
    async with AsyncDatacatClient(f"http://127.0.0.1:{free_port()}", timeout=2) as dead:
        with pytest.raises(ConnectError):
            await dead.register_session()


async def test_async_session_context_manager(url: str) -> None:
    async with AsyncSession.create(url, product="worker", batch=FAST) as s:
        await s.update_state({"phase": "run"})
        await s.log_event("started", {"n": 1})
        for i in range(100):
            await s.log_metric("load", i, tags=["async"])
        details = await s.get_details()
        assert len(details["metrics"]) == 100 and details["state"] == {"phase": "run"}
    stored = await _stored(url, s.session_id)
    assert stored["status"] == "ended" and stored["product"] == "worker"
    assert not s.errors and s.delivered == 103


async def test_async_session_crash_is_recorded(url: str) -> None:
    with pytest.raises(RuntimeError):
        async with AsyncSession.create(url, batch=FAST) as s:
            raise RuntimeError("async boom")
    stored = await _stored(url, s.session_id)
    assert stored["status"] == "crashed"
    assert stored["events"][-1]["data"]["message"] == "async boom"


async def test_async_session_awaited_and_unbatched(url: str) -> None:
    s = await AsyncSession.create(url, batching=False)
    await s.log_metric("m", 1)
    await s.log_metric("m", float("inf"))
    assert isinstance(s.errors[-1], InvalidData)
    assert len((await _stored(url, s.session_id))["metrics"]) == 1
    await s.log_exception(KeyError("k"))
    await s.end()
    stored = await _stored(url, s.session_id)
    assert stored["events"][0]["data"]["type"] == "KeyError" and stored["status"] == "ended"


async def test_async_bad_calls_never_raise(url: str) -> None:
    async with AsyncSession.create(url, batch=FAST) as s:
        await s.log_metric("", 1)
        await s.update_state([1])  # type: ignore[arg-type]
        await s.log_event("e", {"x": object()})
        assert len(s.errors) == 3


async def _event_names(session: AsyncSession) -> list[str]:
    return [e["name"] for e in (await session.get_details())["events"]]


async def test_async_hung_then_recovered(url: str) -> None:
    async with AsyncSession.create(url, batch=FAST) as s:
        monitor = s.start_heartbeat_monitor(timeout=0.3, check_interval=0.05)
        assert monitor.is_running()
        beat_at = time.time()
        s.heartbeat()
        deadline = time.monotonic() + 20  # no heartbeats from here: hung, sooner or later
        while "application_appears_hung" not in await _event_names(s):
            assert time.monotonic() < deadline, "no application_appears_hung within 20 s"
            await asyncio.sleep(0.05)
        s.heartbeat()  # schedules application_recovered
        # Stopped at once (waiting for that report), so no second hang can follow.
        await s.stop_heartbeat_monitor()
        assert not monitor.is_running()
        details = await s.get_details()
        names = [e["name"] for e in details["events"]]
        assert names == ["application_appears_hung", "application_recovered"]
        assert details["status"] == "active"
        hung = details["events"][0]
        assert hung["data"]["timeout"] == 0.3 and hung["data"]["seconds_since_heartbeat"] > 0.3
        hung_at = datetime.fromisoformat(hung["timestamp"].replace("Z", "+00:00")).timestamp()
        assert hung_at - beat_at > 0.3  # not reported before the timeout


async def test_logging_handler_on_an_async_session(url: str) -> None:
    async with AsyncSession.create(url, batch=FAST) as s:
        logger = logging.getLogger("tests.async_handler")
        handler = DatacatHandler(s)
        logger.addHandler(handler)
        try:
            logger.warning("careful %s", "now")
        finally:
            logger.removeHandler(handler)
        event = (await s.get_details())["events"][0]
        assert event["name"] == "log" and event["data"]["message"] == "careful now"
