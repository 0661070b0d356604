"""What the seed README's examples must leave on the server, whichever client ran them.

The examples live once, in ``tests/lite/examples/``; the full client's suite and the lite
client's suite both run them and check each session with these (the heartbeat and the
basic example differ per client in timings and printed output, so each suite keeps those).
"""

from __future__ import annotations

from typing import Any


def check_advanced(out: str, result: dict[str, Any], session: dict[str, Any]) -> None:
    assert session["state"] == {"phase": "initialization"}
    assert [e["name"] for e in session["events"]] == ["initialization_complete"]
    assert [(m["name"], m["value"]) for m in session["metrics"]] == [("init_time", 1.234)]
    # get_all_sessions() right after the (queued) writes already lists them.
    assert result["listed"] == [["initialization_complete", "init_time"]]


def check_python2(out: str, result: dict[str, Any], session: dict[str, Any]) -> None:
    assert session["state"] == {"version": "2.7"}  # queued, delivered at exit
    assert f"Session ID: {session['id']}" in out


def check_nested_state(out: str, result: dict[str, Any], session: dict[str, Any]) -> None:
    assert session["state"] == {
        "window_state": {"open": ["window 1", "window 2", "window 3"], "active": "window 1"},
        "memory": {"footprint_mb": 75.5},
        "settings": {"theme": "dark"},
    }


def check_lifecycle(out: str, result: dict[str, Any], session: dict[str, Any]) -> None:
    assert [e["name"] for e in session["events"]] == ["session_started", "session_ending"]
    assert session["events"][0]["data"] == {"user": "alice"}
    assert session["state"] == {"status": "running"}
    assert session["active"] is False and session["ended_at"] and session["status"] == "ended"


def check_monitoring(out: str, result: dict[str, Any], session: dict[str, Any]) -> None:
    assert session["state"] == {"app": "myapp", "status": "stopped"}
    events = [(e["name"], e["data"]) for e in session["events"]]
    assert events == [("startup", {"version": "1.0.0"}), ("shutdown", {})]
    metrics = [(m["name"], m["value"]) for m in session["metrics"]]
    assert metrics == [("startup_time", 2.5), ("requests_per_second", 1000)]
    assert session["active"] is True
