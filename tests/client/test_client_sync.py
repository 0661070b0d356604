"""``DatacatClient``: every call against the real server, and its errors."""

from __future__ import annotations

import math
import sys
from datetime import datetime, timezone

import httpx
import pytest

from datacat_client import (
    ConnectError,
    DatacatClient,
    InvalidData,
    NotFound,
    Unprocessable,
)
from support import free_port


def test_register_and_get_session(client: DatacatClient) -> None:
    session_id = client.register_session(
        product="shop", version="1.2", host="box", metadata={"team": "a"}, heartbeat_timeout=60
    )
    details = client.get_session(session_id)
    assert details["id"] == session_id
    assert (details["product"], details["version"], details["host"]) == ("shop", "1.2", "box")
    assert details["active"] is True and details["status"] == "active"
    assert details["ended_at"] is None


def test_update_state_deep_merges(client: DatacatClient) -> None:
    sid = client.register_session()
    assert client.update_state(sid, {"window": {"open": ["a"], "active": "a"}}) == {"status": "ok"}
    client.update_state(sid, {"window": {"open": ["a", "b"]}, "memory": 1})
    assert client.get_session(sid)["state"] == {
        "window": {"open": ["a", "b"], "active": "a"},
        "memory": 1,
    }


def test_log_event_with_timestamp_and_id_is_stored_once(client: DatacatClient) -> None:
    sid = client.register_session()
    when = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
    for _ in range(2):
        client.log_event(sid, "clicked", {"x": 1}, timestamp=when, id="evt-1")
    client.log_event(sid, "no_data")
    events = client.get_session(sid)["events"]
    assert events[0] == {
        "timestamp": "2026-01-02T03:04:05.123456Z",
        "name": "clicked",
        "data": {"x": 1},
        # issue 12's optional fields, answered with their defaults for a seed-style event
        "level": "info",
        "message": None,
        "category": None,
        "labels": None,
    }
    assert [e["name"] for e in events] == ["clicked", "no_data"]
    assert events[1]["data"] == {}  # the seed client sent {} for no data


def test_log_metric(client: DatacatClient) -> None:
    sid = client.register_session()
    client.log_metric(sid, "cpu", 45.2, tags=["host:a"])
    client.log_metric(sid, "count", 3)  # ints become floats, as in the seed
    client.log_metric(sid, "m", 1.0, timestamp=1_700_000_000.5, id="m-1")
    client.log_metric(sid, "m", 2.0, timestamp=1_700_000_000.5, id="m-1")
    metrics = client.get_session(sid)["metrics"]
    assert [(m["name"], m["value"], m["tags"]) for m in metrics] == [
        ("cpu", 45.2, ["host:a"]),
        ("count", 3.0, []),
        ("m", 1.0, []),
    ]
    assert metrics[2]["timestamp"] == "2023-11-14T22:13:20.500000Z"


def test_log_exception_and_end(client: DatacatClient) -> None:
    sid = client.register_session()
    try:
        raise KeyError("missing")
    except KeyError:
        client.log_exception(sid, extra_data={"where": "test"})
    event = client.get_session(sid)["events"][0]
    assert event["name"] == "exception"
    assert event["data"]["type"] == "KeyError"
    assert event["data"]["message"] == "'missing'"
    assert event["data"]["where"] == "test"
    assert event["data"]["traceback"][0] == "Traceback (most recent call last):"
    assert event["data"]["traceback"][-1] == "KeyError: 'missing'"
    assert "fatal" not in event["data"]
    client.end_session(sid)
    ended = client.get_session(sid)
    assert ended["active"] is False and ended["ended_at"] and ended["status"] == "ended"


def test_fatal_exception_and_crashed_end(client: DatacatClient) -> None:
    sid = client.register_session()
    client.log_exception(sid, RuntimeError("boom"), fatal=True)
    assert client.get_session(sid)["status"] == "crashed"
    other = client.register_session()
    client.end_session(other, status="crashed")
    assert client.get_session(other)["status"] == "crashed"


def test_heartbeat_records_last_seen(client: DatacatClient) -> None:
    sid = client.register_session()
    before = client.get_session(sid)["last_seen_at"]
    assert client.heartbeat(sid, timeout=30) == {"status": "ok"}
    assert client.get_session(sid)["last_seen_at"] >= before


def test_get_all_sessions_and_send_batch(client: DatacatClient) -> None:
    sid = client.register_session()
    answer = client.send_batch(
        [
            {"op": "metric", "session_id": sid, "name": "m", "value": 1, "id": "a"},
            {"op": "metric", "session_id": sid, "name": "m", "value": 1, "id": "a"},
            {"op": "state", "session_id": sid, "state": {"k": 1}},
        ]
    )
    assert answer == {"status": "ok", "accepted": 2, "duplicates": 1}
    assert sid in {s["id"] for s in client.get_all_sessions()}


def test_unknown_session_is_not_found(client: DatacatClient) -> None:
    with pytest.raises(NotFound) as info:
        client.get_session("no-such-session")
    assert info.value.status == 404 and info.value.detail
    with pytest.raises(NotFound):
        client.log_event("no-such-session", "x")


@pytest.mark.parametrize(
    ("call", "args"),
    [
        ("log_event", ("", None)),
        ("log_event", ("a" * 257, None)),
        ("log_event", ("nul\x00", None)),
        ("log_event", ("ok", {"bad": "nul\x00"})),
        ("log_event", ("ok", {"x": math.nan})),
        ("log_event", ("ok", {"x": object()})),
        ("log_metric", ("m", math.inf)),
        ("log_metric", ("m", "not a number")),
        ("log_metric", ("m", 1, [1, 2])),
        ("update_state", (["not", "an", "object"],)),
    ],
)
def test_bad_input_is_refused_before_sending(
    client: DatacatClient, call: str, args: tuple[object, ...]
) -> None:
    with pytest.raises(InvalidData):
        getattr(client, call)("sid-never-sent", *args)


def test_server_side_refusal_is_unprocessable(client: DatacatClient) -> None:
    sid = client.register_session()
    with pytest.raises(Unprocessable) as info:
        client.heartbeat(sid, timeout=-1)
    assert info.value.status == 422


def test_connection_refused_is_a_datacat_error() -> None:
    with DatacatClient(f"http://127.0.0.1:{free_port()}", timeout=2) as dead:
        with pytest.raises(ConnectError) as info:
            dead.register_session()
    assert not isinstance(info.value, httpx.HTTPError)


def test_mock_transport_sees_the_seed_wire_format() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/sessions":
            return httpx.Response(200, json={"session_id": "s1"})
        return httpx.Response(200, json={"status": "ok"})

    with DatacatClient("http://datacat", transport=httpx.MockTransport(handler)) as c:
        assert c.register_session() == "s1"
        c.log_metric("s1", "cpu", 1, tags=["t"])
        c.end_session("s1")
    assert seen[0].content == b""  # the seed posted no body
    assert seen[1].url.path == "/api/sessions/s1/metrics"
    assert seen[1].content == b'{"name":"cpu","value":1.0,"tags":["t"]}'
    assert seen[2].url.path == "/api/sessions/s1/end" and seen[2].content == b""


def test_datacat_package_reexports_without_fastapi() -> None:
    import subprocess

    code = (
        "import sys; from datacat import create_session, DatacatClient, Session, "
        "AsyncDatacatClient, AsyncSession, HeartbeatMonitor, DatacatHandler; "
        "print('fastapi' in sys.modules, 'sqlalchemy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
