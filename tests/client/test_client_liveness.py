"""Hang detection and keep-alives: sub-second timeouts, checked on the server."""

from __future__ import annotations

import time

import httpx

from datacat_client import DatacatClient, HeartbeatMonitor, Session
from datacat_client._heartbeat import HangDetector
from support import eventually


def test_hang_detector_rules() -> None:
    detector = HangDetector(timeout=10, now=0)
    assert detector.check(5) is None
    assert detector.check(11) == (
        "application_appears_hung",
        {"seconds_since_heartbeat": 11, "timeout": 10},
    )
    assert detector.check(30) is None  # once per hang
    assert detector.beat(32) == ("application_recovered", {"hung_for_seconds": 21})
    assert detector.beat(33) is None
    assert detector.check(40) is None


def _status(raw: httpx.Client, session_id: str) -> str:
    return str(raw.get(f"/api/sessions/{session_id}").json()["status"])


def test_hung_then_recovered(session: Session, raw: httpx.Client) -> None:
    monitor = session.start_heartbeat_monitor(timeout=0.3, check_interval=0.05)
    assert monitor.is_running()
    session.heartbeat()
    eventually(lambda: _status(raw, session.session_id) == "hung")
    session.heartbeat()
    eventually(lambda: _status(raw, session.session_id) == "active")
    events = session.get_details()["events"]
    assert [e["name"] for e in events] == ["application_appears_hung", "application_recovered"]
    assert events[0]["data"]["timeout"] == 0.3
    assert events[0]["data"]["seconds_since_heartbeat"] > 0.3
    session.stop_heartbeat_monitor()
    assert not monitor.is_running()


def test_keepalives_while_hung_then_abandoned_when_silent(
    session: Session, raw: httpx.Client
) -> None:
    session.start_heartbeat_monitor(timeout=0.2, check_interval=0.1, keepalive_timeout=1.0)
    first = raw.get(f"/api/sessions/{session.session_id}").json()["last_seen_at"]
    eventually(
        lambda: raw.get(f"/api/sessions/{session.session_id}").json()["last_seen_at"] > first
    )
    time.sleep(1.5)  # hung, but the monitor's keep-alives say the process lives
    assert _status(raw, session.session_id) == "hung"
    session.stop_heartbeat_monitor()  # now silence, as if the process died
    eventually(lambda: _status(raw, session.session_id) == "abandoned", timeout=30)


def test_seed_monitor_signature(client: DatacatClient, raw: httpx.Client) -> None:
    sid = client.register_session()
    monitor = HeartbeatMonitor(client, sid, timeout=0.2, check_interval=0.05).start()
    try:
        eventually(lambda: _status(raw, sid) == "hung")
        monitor.heartbeat()
        eventually(lambda: _status(raw, sid) == "active")
    finally:
        monitor.stop()


def test_seed_heartbeat_loop_example_shape(session: Session, raw: httpx.Client) -> None:
    session.start_heartbeat_monitor(timeout=1, check_interval=0.05)
    for _ in range(10):
        session.heartbeat()
        time.sleep(0.02)
    session.end()
    stored = raw.get(f"/api/sessions/{session.session_id}").json()
    assert stored["status"] == "ended"
    assert "application_appears_hung" not in {e["name"] for e in stored["events"]}


def test_heartbeat_without_monitor_is_harmless(session: Session) -> None:
    session.heartbeat()
    assert not session.errors
