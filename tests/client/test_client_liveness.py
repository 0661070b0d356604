"""Hang detection and keep-alives: sub-second timeouts, checked on the server."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

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


def _seconds(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def _named(session: Session, name: str) -> list[dict[str, Any]]:
    return [e for e in session.get_details()["events"] if e["name"] == name]


def test_hung_then_recovered(session: Session, raw: httpx.Client) -> None:
    monitor = session.start_heartbeat_monitor(timeout=0.3, check_interval=0.05)
    assert monitor.is_running()
    beat_at = time.time()
    session.heartbeat()
    eventually(lambda: _status(raw, session.session_id) == "hung")
    session.heartbeat()  # logs application_recovered, on this thread
    # Stopped at once, so however slowly the checks below run no second hang can follow.
    session.stop_heartbeat_monitor()
    assert not monitor.is_running()
    eventually(lambda: _status(raw, session.session_id) == "active")
    events = session.get_details()["events"]
    assert [e["name"] for e in events] == ["application_appears_hung", "application_recovered"]
    assert events[0]["data"]["timeout"] == 0.3
    assert events[0]["data"]["seconds_since_heartbeat"] > 0.3
    assert _seconds(events[0]["timestamp"]) - beat_at > 0.3  # not reported before the timeout


def test_keepalives_while_hung_then_abandoned_when_silent(
    session: Session, raw: httpx.Client
) -> None:
    """Hung is not dead: while the monitor's keep-alives arrive (stamped by the server) the
    session outlives its keep-alive timeout as "hung"; once they stop it is abandoned."""
    keepalive_timeout = 2.0  # keep-alives go every 0.1 s: a stall under 1.9 s is harmless
    session.start_heartbeat_monitor(
        timeout=0.2, check_interval=0.1, keepalive_timeout=keepalive_timeout
    )
    (hung,) = eventually(lambda: _named(session, "application_appears_hung"))
    silent_since = _seconds(hung["timestamp"])  # no heartbeat() since, by the hang's own data
    # The sweeper (every 0.2 s) had several turns after the timeout had passed.
    outlived = keepalive_timeout + 1.0

    def alive_past_timeout() -> dict[str, Any] | None:
        stored: dict[str, Any] = raw.get(f"/api/sessions/{session.session_id}").json()
        return stored if _seconds(stored["last_seen_at"]) - silent_since > outlived else None

    stored = eventually(alive_past_timeout)
    assert stored["status"] == "hung" and stored["heartbeat_timeout"] == keepalive_timeout
    session.stop_heartbeat_monitor()  # now silence, as if the process died
    eventually(lambda: _status(raw, session.session_id) == "abandoned", timeout=30)


def test_seed_monitor_signature(client: DatacatClient, raw: httpx.Client) -> None:
    sid = client.register_session()
    monitor = HeartbeatMonitor(client, sid, timeout=0.2, check_interval=0.05).start()
    try:
        eventually(lambda: _status(raw, sid) == "hung")
        monitor.heartbeat()  # sends application_recovered before it returns
        monitor.stop()  # no second hang while the status is read
        eventually(lambda: _status(raw, sid) == "active")
    finally:
        monitor.stop()


def test_seed_heartbeat_loop_example_shape(session: Session, raw: httpx.Client) -> None:
    """A loop that beats well within the timeout, for several timeouts, is never called hung.

    A loaded machine may stall the loop itself past the timeout, and then a hang is real;
    so the beats' times are recorded and every hung event must follow a gap in them longer
    than the timeout — with no stall there is none at all.
    """
    timeout = 0.3
    beats = [time.time()]  # before the monitor starts its clock
    session.start_heartbeat_monitor(timeout=timeout, check_interval=0.05)
    while beats[-1] - beats[0] < 4 * timeout:
        beats.append(time.time())  # before the call: the gap measured is never too short
        session.heartbeat()
        time.sleep(0.02)
    session.end()
    stored = raw.get(f"/api/sessions/{session.session_id}").json()
    assert stored["status"] == "ended"
    for event in stored["events"]:
        if event["name"] == "application_appears_hung":
            at = _seconds(event["timestamp"])
            last_beat = max(beat for beat in beats if beat <= at)
            assert at - last_beat > timeout, f"hung {at - last_beat:.3f}s after a beat"


def test_heartbeat_without_monitor_is_harmless(session: Session) -> None:
    session.heartbeat()
    assert not session.errors
