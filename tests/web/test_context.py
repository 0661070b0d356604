"""Pure view rules, checked without a server."""

from __future__ import annotations

from datacat_web.context import parse_browser_query, session_row

HOUR = 3_600_000_000


def _row(status: str, ended_us: int | None, last_seen_us: int) -> dict:
    return {
        "id": "0" * 36,
        "product": None,
        "version": None,
        "host": None,
        "status": status,
        "active": ended_us is None,
        "created_us": 0,
        "ended_us": ended_us,
        "last_seen_us": last_seen_us,
    }


def test_a_crashed_session_stops_its_clock_at_the_last_word_heard() -> None:
    now = 10 * HOUR
    assert session_row(_row("crashed", None, 2 * HOUR), now)["duration"] == "2h 0m"
    assert session_row(_row("abandoned", None, HOUR), now)["duration"] == "1h 0m"
    assert session_row(_row("active", None, HOUR), now)["duration"] == "10h 0m"
    assert session_row(_row("ended", 3 * HOUR, 3 * HOUR), now)["duration"] == "3h 0m"


def test_an_unknown_status_is_an_error_not_a_silent_no_filter() -> None:
    assert parse_browser_query({"status": "sleeping"}).error is not None
    assert parse_browser_query({"status": "hung"}).filters.status == "hung"
    assert parse_browser_query({}).filters.status is None
