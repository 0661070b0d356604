"""Issue 12 from the Python client: metric kinds/units and event levels/messages/categories/
labels, on both faces, batched and unbatched, read back through the API of a real server."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest

from datacat_client import (
    AsyncDatacatClient,
    AsyncSession,
    DatacatClient,
    DatacatHandler,
    InvalidData,
    Session,
)
from datacat_client._heartbeat import HUNG_EVENT, RECOVERED_EVENT
from support import FAST, eventually


def _items(raw: httpx.Client, session_id: str, what: str) -> list[dict[str, Any]]:
    page = raw.get(f"/api/sessions/{session_id}/{what}", params={"limit": 1000})
    page.raise_for_status()
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def _by_name(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        found.setdefault(item["name"], []).append(item)
    return found


def _write_everything(session: Session) -> None:
    session.log_metric("plain", 1)  # the seed's call: a gauge without unit
    session.log_metric("mem", 2048, ["a"], kind="gauge", unit="bytes")
    session.counter("requests")
    session.counter("requests", by=3, unit="req")
    session.observe("size", 12.5, unit="kB")
    with session.timer("block"):
        pass

    @session.timer("call")
    def work(x: int) -> int:
        return x * 2

    assert work(21) == 42
    session.log_event("seed", {"k": 1})  # data stays the 2nd positional argument
    session.log_event(
        "deploy",
        {"v": 2},
        level="warning",
        message="rolled back",
        category="ops",
        labels=["eu", "blue"],
    )


def _check_everything(raw: httpx.Client, session_id: str) -> None:
    metrics = _by_name(_items(raw, session_id, "metrics"))
    assert [(m["kind"], m["unit"]) for m in metrics["plain"]] == [("gauge", None)]
    assert [(m["kind"], m["unit"], m["value"]) for m in metrics["mem"]] == [
        ("gauge", "bytes", 2048)
    ]
    counted = sorted((m["value"], m["kind"], m["unit"]) for m in metrics["requests"])
    assert counted == [(1, "counter", None), (3, "counter", "req")]
    assert [(m["kind"], m["unit"], m["value"]) for m in metrics["size"]] == [
        ("histogram", "kB", 12.5)
    ]
    for name in ("block", "call"):
        (timing,) = metrics[name]
        assert (timing["kind"], timing["unit"]) == ("timer", "ms")
        assert 0 <= timing["value"] < 10_000
    events = _by_name(_items(raw, session_id, "events"))
    (seed,) = events["seed"]
    assert seed["data"] == {"k": 1} and seed["level"] == "info" and seed["message"] is None
    (deploy,) = events["deploy"]
    assert deploy["data"] == {"v": 2}
    assert (deploy["level"], deploy["message"], deploy["category"], deploy["labels"]) == (
        "warning",
        "rolled back",
        "ops",
        ["eu", "blue"],
    )


@pytest.mark.parametrize("batching", [True, False], ids=["batched", "unbatched"])
def test_session_stores_kinds_units_and_levels(
    client: DatacatClient, raw: httpx.Client, batching: bool
) -> None:
    session = Session(client, client.register_session(), batching=batching, strict=True)
    _write_everything(session)
    assert session.flush(30)
    _check_everything(raw, session.session_id)
    assert not session.errors


@pytest.mark.parametrize("batching", [True, False], ids=["batched", "unbatched"])
def test_async_session_stores_kinds_units_and_levels(
    url: str, raw: httpx.Client, batching: bool
) -> None:
    async def main() -> str:
        async with AsyncSession.create(url, batch=FAST, batching=batching, strict=True) as s:
            await s.log_metric("plain", 1)
            await s.log_metric("mem", 2048, ["a"], kind="gauge", unit="bytes")
            await s.counter("requests")
            await s.counter("requests", by=3, unit="req")
            await s.observe("size", 12.5, unit="kB")
            with s.timer("block"):
                pass
            async with s.timer("block2"):
                await asyncio.sleep(0)

            @s.timer("call")
            async def work(x: int) -> int:
                return x * 2

            assert await work(21) == 42
            await s.log_event("seed", {"k": 1})
            await s.log_event(
                "deploy",
                {"v": 2},
                level="warning",
                message="rolled back",
                category="ops",
                labels=["eu", "blue"],
            )
            await s.flush(30)
            assert not s.errors
            return s.session_id

    session_id = asyncio.run(main())
    _check_everything(raw, session_id)
    (block2,) = _by_name(_items(raw, session_id, "metrics"))["block2"]
    assert (block2["kind"], block2["unit"]) == ("timer", "ms")


def test_direct_client_calls_send_the_fields(url: str, raw: httpx.Client) -> None:
    with DatacatClient(url) as c:
        sid = c.register_session()
        c.log_metric(sid, "t", 5, kind="timer", unit="ms")
        c.log_event(sid, "e", None, level="error", message="boom", category="db", labels=["x"])
        with pytest.raises(InvalidData, match="kind"):
            c.log_metric(sid, "t", 5, kind="meter")  # type: ignore[arg-type]

    async def main() -> str:
        async with AsyncDatacatClient(url) as ac:
            asid = await ac.register_session()
            await ac.log_metric(asid, "h", 1, kind="histogram")
            await ac.log_event(asid, "e", level="debug")
            return asid

    asid = asyncio.run(main())
    (metric,) = _items(raw, sid, "metrics")
    assert (metric["kind"], metric["unit"]) == ("timer", "ms")
    (event,) = _items(raw, sid, "events")
    assert (event["level"], event["message"], event["category"], event["labels"]) == (
        "error",
        "boom",
        "db",
        ["x"],
    )
    assert _items(raw, asid, "metrics")[0]["kind"] == "histogram"
    assert _items(raw, asid, "events")[0]["level"] == "debug"


@pytest.mark.parametrize("batching", [True, False], ids=["batched", "unbatched"])
def test_bad_fields_are_refused_and_nothing_of_the_call_is_stored(
    client: DatacatClient, raw: httpx.Client, batching: bool
) -> None:
    session = Session(client, client.register_session(), batching=batching)
    session.log_metric("m", 1, kind="meter")  # type: ignore[arg-type]
    session.log_metric("m", 1, unit="")
    session.log_event("e", level="fatal")  # type: ignore[arg-type]
    session.log_event("e", labels="eu")  # type: ignore[arg-type]
    session.log_event("e", message="x" * 8193)
    session.log_metric("ok", 1, kind="counter")
    assert session.flush(30)
    messages = [str(e) for e in session.errors]
    assert len(messages) == 5, messages
    assert "kind" in messages[0] and "unit" in messages[1] and "level" in messages[2]
    assert [m["name"] for m in _items(raw, session.session_id, "metrics")] == ["ok"]
    assert _items(raw, session.session_id, "events") == []


def test_logging_handler_maps_levels_and_message(session: Session, raw: httpx.Client) -> None:
    logger = logging.getLogger("kinds-test")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = DatacatHandler(session)
    logger.addHandler(handler)
    try:
        logger.debug("d %s", 1)
        logger.info("i")
        logger.warning("w")
        logger.error("e")
        logger.critical("c")
        logger.log(logging.ERROR + 5, "custom")
    finally:
        logger.removeHandler(handler)
    assert session.flush(30)
    logs = _items(raw, session.session_id, "events")
    assert [(e["level"], e["message"]) for e in logs] == [
        ("debug", "d 1"),
        ("info", "i"),
        ("warning", "w"),
        ("error", "e"),
        ("critical", "c"),
        ("error", "custom"),
    ]
    assert logs[0]["data"]["level"] == "DEBUG"  # the seed-era data is unchanged


def test_monitor_reports_hung_as_warning_and_recovered_as_info(
    session: Session, raw: httpx.Client
) -> None:
    def levels() -> dict[str, str]:
        session.flush(5)
        return {e["name"]: e["level"] for e in _items(raw, session.session_id, "events")}

    session.start_heartbeat_monitor(timeout=0.2, check_interval=0.05)
    try:
        eventually(lambda: HUNG_EVENT in levels())  # no heartbeat(): the monitor calls it hung
        session.heartbeat()
        assert eventually(lambda: levels() if RECOVERED_EVENT in levels() else None) == {
            HUNG_EVENT: "warning",
            RECOVERED_EVENT: "info",
        }
    finally:
        session.stop_heartbeat_monitor()
