"""``Session``: the seed's examples, batching, overflow, and errors that never raise."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import httpx
import pytest

from datacat_client import (
    BatchConfig,
    DatacatClient,
    DeliveryError,
    InvalidData,
    Session,
    create_session,
)
from support import FAST, eventually, free_port


def test_seed_basic_usage_reads_its_own_writes(url: str) -> None:
    session = create_session(url)
    session.update_state({"status": "running", "progress": 0})
    session.log_event("started", {"user": "alice"})
    session.log_metric("cpu_usage", 45.2, tags=["host:server1"])
    details = session.get_details()  # flushes first
    assert details["state"] == {"status": "running", "progress": 0}
    assert [(e["name"], e["data"]) for e in details["events"]] == [("started", {"user": "alice"})]
    assert details["metrics"][0]["value"] == 45.2
    session.end()
    assert session.get_details()["active"] is False
    assert not session.errors


def test_seed_advanced_usage(url: str) -> None:
    client = DatacatClient(url)
    session_id = client.register_session()
    session = Session(client, session_id)
    session.update_state({"phase": "initialization"})
    session.log_event("initialization_complete")
    session.log_metric("init_time", 1.234)
    session.flush()
    all_sessions = client.get_all_sessions()
    mine = next(s for s in all_sessions if s["id"] == session_id)
    assert mine["state"] == {"phase": "initialization"}
    assert [e["name"] for e in mine["events"]] == ["initialization_complete"]
    client.close()


# Nothing leaves the outbox until a read flushes it, so "when it was sent" is "at the read".
QUIET = BatchConfig(flush_at=10_000, flush_interval=60)


def _seconds(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def test_items_keep_call_order_and_call_time(url: str) -> None:
    """Each item carries the time of its call: inside the call's own window, which closes
    well before the read that sends it (so the check needs no margin of its own)."""
    with DatacatClient(url, batch=QUIET) as client:
        session = Session(client, client.register_session())
        windows = []
        for log in (lambda: session.log_event("first"), lambda: session.log_metric("second", 2)):
            called = time.time()
            log()
            windows.append((called, time.time()))
            time.sleep(0.05)
        session.update_state({"step": 1})
        session.update_state({"step": 2})
        details = session.get_details()
    stamps = [
        _seconds(details["events"][0]["timestamp"]),
        _seconds(details["metrics"][0]["timestamp"]),
    ]
    for stamp, (called, returned) in zip(stamps, windows, strict=True):
        assert called - 1e-6 <= stamp <= returned + 1e-6, (stamp, called, returned)
    assert details["state"] == {"step": 2}


def test_state_and_event_data_are_snapshots(session: Session) -> None:
    data = {"n": 1}
    session.log_event("e", data)
    session.update_state(data)
    data["n"] = 2
    details = session.get_details()
    assert details["events"][0]["data"] == {"n": 1} and details["state"] == {"n": 1}


def test_bad_calls_never_raise_and_are_reported(session: Session) -> None:
    session.log_metric("", 1)
    session.log_metric("m", float("nan"))
    session.log_metric("m", "x")
    session.log_metric("m", 1, tags=[1])
    session.log_event("e", {"x": object()})
    session.update_state(["no"])
    session.log_metric("good", 1)
    assert len(session.errors) == 6
    assert all(isinstance(e, InvalidData) for e in session.errors)
    assert [m["name"] for m in session.get_details()["metrics"]] == ["good"]


def test_strict_session_raises(client: DatacatClient) -> None:
    strict = Session(client, client.register_session(), strict=True)
    with pytest.raises(InvalidData):
        strict.log_metric("m", float("inf"))


def test_server_refusal_drops_only_the_bad_items(client: DatacatClient) -> None:
    good = Session(client, client.register_session())
    ghost = Session(client, "00000000-0000-0000-0000-000000000000")
    for i in range(5):
        good.log_metric("m", i)
        ghost.log_metric("m", i)  # same batch, unknown session: refused item by item
    good.flush()
    assert [m["value"] for m in good.get_details()["metrics"]] == [0, 1, 2, 3, 4]
    assert ghost.dropped == 5 and good.dropped == 0
    assert all(isinstance(e, DeliveryError) for e in ghost.errors)
    assert "session not found" in str(ghost.errors[0])


def test_batching_off_sends_immediately(client: DatacatClient, raw: httpx.Client) -> None:
    session = Session(client, client.register_session(), batching=False)
    session.log_metric("m", 1)
    session.log_event("e")
    session.update_state({"a": 1})
    stored = raw.get(f"/api/sessions/{session.session_id}").json()
    assert len(stored["metrics"]) == 1 and len(stored["events"]) == 1
    session.log_metric("m", float("nan"))
    assert isinstance(session.errors[-1], InvalidData)
    session.end()
    assert raw.get(f"/api/sessions/{session.session_id}").json()["status"] == "ended"


def test_batching_off_records_server_errors(client: DatacatClient) -> None:
    ghost = Session(client, "missing-session", batching=False)
    ghost.log_event("e")
    assert ghost.errors[-1].status == 404  # type: ignore[attr-defined]


def _batch_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name == "datacat-batch"}


def test_many_sessions_share_one_worker(url: str) -> None:
    """A client's sessions queue into one outbox drained by one thread: a thread per
    session would multiply threads and connections with the sessions an app opens."""
    before = _batch_threads()
    with DatacatClient(url, batch=QUIET) as client:
        sessions = [Session(client, client.register_session()) for _ in range(5)]
        for s in sessions:
            s.log_metric("m", 1)
        assert len(_batch_threads() - before) == 1
        assert len(client.batch_worker().outbox) == 5  # every session's item, one queue
        for s in sessions:
            assert len(s.get_details()["metrics"]) == 1


def test_chunks_to_the_server_limits(url: str, raw: httpx.Client) -> None:
    config = BatchConfig(flush_interval=0.05, max_batch_items=700, max_batch_bytes=64 * 1024)
    with DatacatClient(url, batch=config) as client:
        session = Session(client, client.register_session())
        for i in range(3000):
            session.log_event("e", {"i": i, "pad": "x" * 100})
        assert session.flush(30)
    assert session.delivered == 3000
    total = raw.get(f"/api/sessions/{session.session_id}/events", params={"limit": 5000})
    assert len(total.json()["items"]) == 3000


def test_drop_oldest_counts_what_it_drops() -> None:
    config = BatchConfig(max_queue=10, flush_at=10_000, flush_interval=60, overflow="drop_oldest")
    dead = DatacatClient(f"http://127.0.0.1:{free_port()}", batch=config)
    session = Session(dead, "s")
    for i in range(25):
        session.log_metric("m", i)
    assert session.dropped == 15
    remaining = [item[5] for item in dead.batch_worker().outbox.take(100)[0]]
    assert remaining == list(range(15, 25))
    dead.batch_worker().outbox.report_drops()
    assert "dropped 15 item(s)" in str(session.errors[-1])
    dead.close_worker(0.1)


def test_drop_newest_keeps_the_oldest() -> None:
    config = BatchConfig(max_queue=10, flush_at=10_000, flush_interval=60, overflow="drop_newest")
    dead = DatacatClient(f"http://127.0.0.1:{free_port()}", batch=config)
    session = Session(dead, "s")
    for i in range(25):
        session.log_metric("m", i)
    assert session.dropped == 15
    assert [item[5] for item in dead.batch_worker().outbox.take(100)[0]] == list(range(10))
    dead.close_worker(0.1)


def test_block_policy_loses_nothing(url: str) -> None:
    config = BatchConfig(max_queue=50, flush_at=25, flush_interval=0.05, overflow="block")
    with DatacatClient(url, batch=config) as client:
        session = Session(client, client.register_session())
        for i in range(2000):
            session.log_metric("m", i)
        assert session.flush(30)
        assert session.dropped == 0 and session.delivered == 2000


def test_context_manager_ends_or_crashes(url: str, raw: httpx.Client) -> None:
    with create_session(url, batch=FAST) as ok:
        ok.log_event("inside")
    assert raw.get(f"/api/sessions/{ok.session_id}").json()["status"] == "ended"

    with pytest.raises(ZeroDivisionError), create_session(url, batch=FAST) as bad:
        bad.log_event("inside")
        _ = 1 / 0
    stored = raw.get(f"/api/sessions/{bad.session_id}").json()
    assert stored["status"] == "crashed" and stored["active"] is False
    exception = stored["events"][-1]["data"]
    assert exception["type"] == "ZeroDivisionError" and exception["fatal"] is True


def test_end_waits_for_delivery_and_writes_after_end_arrive(session: Session) -> None:
    for i in range(100):
        session.log_metric("m", i)
    session.end()
    session.log_event("late")
    details = session.get_details()
    assert len(details["metrics"]) == 100 and details["events"][-1]["name"] == "late"
    assert details["active"] is False


def test_closing_while_the_server_is_down_reports_the_loss() -> None:
    config = BatchConfig(flush_interval=0.01, initial_backoff=0.01, max_backoff=0.05)
    dead = DatacatClient(f"http://127.0.0.1:{free_port()}", batch=config, timeout=1)
    session = Session(dead, "s")
    for i in range(10):
        session.log_metric("m", i)
    assert dead.close_worker(timeout=0.5) is False
    eventually(lambda: session.dropped == 10)
    assert any("not delivered" in str(e) or "unreachable" in str(e) for e in session.errors)
