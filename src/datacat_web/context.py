"""Stored rows → what templates show. Pure functions, so templates never compute."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

import orjson

from datacat.fingerprint import fingerprint
from datacat.store import status as rules
from datacat.store.metricquery import ExplorerResult, SeriesResult
from datacat.store.repository import SessionFilter
from datacat.store.statefilter import state_filter
from datacat.timefmt import to_rfc3339, to_us

FILTER_FIELDS = (
    "status",
    "product",
    "created_after",
    "created_before",
    "state_path",
    "state_value",
    "state_mode",
    "version",
    "event",
    "ever_hung",
    "q",
    "sort",
)
SORTABLE = {"created_at": "Created (UTC)", "last_seen_at": "Last seen"}


def display_time(us: int | None) -> str:
    """``2026-11-28 07:04:28`` (UTC): readable, and sortable as text."""
    if us is None:
        return ""
    return to_rfc3339(us)[:19].replace("T", " ")


def duration(start_us: int, end_us: int | None, now_us: int) -> str:
    seconds = max(0, ((end_us if end_us is not None else now_us) - start_us) // 1_000_000)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def session_row(row: dict[str, Any], now_us: int) -> dict[str, Any]:
    return {
        "id": row["id"],
        "short_id": row["id"][:8],
        "product": row["product"] or "",
        "version": row["version"] or "",
        "host": row["host"] or "",
        "status": row["status"],
        "active": bool(row["active"]),
        # Worth polling: not ended or crashed (a crash by fatal event leaves `active` set).
        "live": row["status"] not in rules.FINAL,
        "created": display_time(row["created_us"]),
        "ended": display_time(row["ended_us"]),
        "last_seen": display_time(row["last_seen_us"]),
        "duration": duration(row["created_us"], _finished_us(row), now_us),
    }


def _finished_us(row: dict[str, Any]) -> int | None:
    """When the session stopped: its end, or for a crash or silence, the last word heard.

    A session crashed by a fatal exception (or abandoned) never sends an end, so counting
    its duration up to now would make it grow forever.
    """
    ended_us: int | None = row["ended_us"]
    last_seen_us: int | None = row["last_seen_us"]
    if ended_us is not None:
        return ended_us
    if row["status"] in (rules.CRASHED, rules.ABANDONED):
        return last_seen_us
    return None


def event_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "time": display_time(row["ts_us"]),
        "name": row["name"],
        "data": row["data"],
        "exception": exception_view(row["name"], row["data"]),
    }


def exception_view(name: str, data: Any) -> dict[str, str] | None:
    """An ``exception`` event's type, message, traceback as text and group, ready to show."""
    if name != "exception" or not isinstance(data, dict):
        return None
    trace = data.get("traceback")
    if isinstance(trace, list):
        trace = "".join(line if str(line).endswith("\n") else f"{line}\n" for line in trace)
    return {
        "type": str(data.get("type", "exception")),
        "message": str(data.get("message", "")),
        "traceback": str(trace or ""),
        # Its group (``/exceptions/<fingerprint>``), by the rule ingest stored it with.
        "group": fingerprint(data) or "",
    }


def rate(part: int, whole: int) -> str:
    return "—" if whole == 0 else f"{100 * (whole - part) / whole:.1f}%"


def dashboard_cards(counts: dict[str, int], events: int, metrics: int) -> dict[str, Any]:
    total = sum(counts.values())
    return {
        "total": total,
        "counts": [(name, counts.get(name, 0)) for name in rules.STATUSES],
        "crash_free": rate(counts.get(rules.CRASHED, 0), total),
        "hang_free": rate(counts.get(rules.HUNG, 0), total),
        "events_last_hour": events,
        "metrics_last_hour": metrics,
    }


@dataclass
class BrowserQuery:
    """The session browser's filters as typed in the form, and what they mean."""

    values: dict[str, str]
    filters: SessionFilter = field(default_factory=SessionFilter)
    sort: str = "created_at"
    descending: bool = True
    error: str | None = None

    def query_string(self, **overrides: str | None) -> str:
        merged = {**self.values, **overrides}
        return urlencode({k: v for k, v in merged.items() if v})

    def is_filtered(self) -> bool:
        """Whether any filter (not just the sort order) narrows the list."""
        return any(value for name, value in self.values.items() if name != "sort")


def sort_links(query: BrowserQuery) -> list[dict[str, Any]]:
    """Each sortable column's header: its link flips the order if it is the current sort."""
    links = []
    for key, label in SORTABLE.items():
        current = query.sort == key
        next_sort = key if current and query.descending else f"-{key}"
        arrow = ("▼" if query.descending else "▲") if current else ""
        links.append(
            {
                "key": key,
                "label": label,
                "current": current,
                "arrow": arrow,
                "href": "/sessions?" + query.query_string(sort=next_sort),
            }
        )
    return links


def parse_browser_query(params: dict[str, str]) -> BrowserQuery:
    values = {name: params.get(name, "").strip() for name in FILTER_FIELDS}
    query = BrowserQuery(values)
    sort = values["sort"] or "-created_at"
    if sort.lstrip("-") in SORTABLE:
        query.sort, query.descending = sort.lstrip("-"), sort.startswith("-")
    try:
        query.filters = SessionFilter(
            status=_status(values["status"]),
            product=values["product"] or None,
            created_after_us=parse_time(values["created_after"]),
            created_before_us=parse_time(values["created_before"]),
            state=state_filter(
                values["state_path"] or None,
                values["state_value"] or None,
                values["state_mode"],
                partial=True,
            ),
            version=values["version"] or None,
            event=values["event"] or None,
            ever_hung=True if values["ever_hung"] == "true" else None,
            q=values["q"] or None,
        )
    except ValueError as exc:
        query.error = str(exc)
    return query


def _status(text: str) -> str | None:
    if text and text not in rules.STATUSES:
        raise ValueError(f"unknown status {text!r}: one of {', '.join(rules.STATUSES)}")
    return text or None


def parse_time(text: str) -> int | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a date and time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return to_us(moment)


def has_nul(params: dict[str, str]) -> bool:
    return any("\x00" in value for value in params.values())


def patch_row(row: dict[str, Any]) -> dict[str, Any]:
    return {"time": display_time(row["ts_us"]), "patch": row["patch"]}


def state_digest(state: Any) -> str:
    """A short fingerprint of a state: the live view re-sends the tree only when it changes."""
    encoded = orjson.dumps(state, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(encoded, digest_size=8).hexdigest()


def _stat(value: float | None) -> str:
    return "—" if value is None else f"{value:,.6g}"


def latest_histogram(rows: list[dict[str, Any]]) -> dict[str, str] | None:
    """A chart's newest metric (``Repository.list_metrics``' row) when it is a histogram:
    its time, count and buckets as one line, ``le 16.7: 950 · le 33.3: 40 · +Inf: 10``."""
    if not rows or "buckets" not in rows[0]:
        return None
    row = rows[0]
    return {
        "time": display_time(row["ts_us"]),
        "count": f"{row['observations']:,}",
        "buckets": " · ".join(
            f"{'+Inf' if le is None else f'le {_bound(le)}'}: {count:,}"
            for le, count in row["buckets"]
        ),
    }


def _bound(le: float) -> str:
    """A bucket bound as short as it reads back exactly: ``16.7``, ``100``, ``1e-06``."""
    short = f"{le:g}"
    return short if float(short) == le else repr(le)


def chart(chart_id: str, name: str, series: SeriesResult) -> dict[str, Any]:
    """One chart: its points (oldest first) for Chart.js, and its statistics as text."""
    return {
        "id": chart_id,
        "name": name,
        "points": [
            {"t": to_rfc3339(p["ts_us"]), "v": p["value"], "s": p.get("session_id")}
            for p in series.points
        ],
        "stats": {
            "sessions": series.sessions_matched,
            "count": series.points_matched,
            "peak": _stat(series.peak),
            "average": _stat(series.average),
            "min": _stat(series.min),
        },
        "shown": len(series.points),
        "truncated": series.truncated,
    }


def explorer_chart(
    chart_id: str, name: str, result: ExplorerResult, grouped: bool
) -> dict[str, Any]:
    """A bucketed and/or grouped series: one line (and one statistics row) per group.

    Ungrouped, it is the plain chart with its one series; bucket points carry no session.
    """
    bucket = None if result.bucket is None else result.bucket.value
    if not grouped:
        (only,) = result.groups
        return chart(chart_id, name, only.result) | {"bucket": bucket}
    groups = [
        chart(chart_id, "(none)" if g.group is None else g.group, g.result) for g in result.groups
    ]
    return {
        "id": chart_id,
        "name": name,
        "bucket": bucket,
        "points": [],
        "groups": [
            {
                "label": g["name"],
                "points": g["points"],
                "stats": g["stats"],
                "shown": g["shown"],
                "truncated": g["truncated"],
            }
            for g in groups
        ],
        "shown": sum(g["shown"] for g in groups),
        "truncated": any(g["truncated"] for g in groups),
    }


def explorer_hint(mode: str, path: str, value: str) -> str | None:
    """Why a half-filled state filter is not applied yet (instead of silently matching)."""
    if mode == "none":
        return "State filter off: choose a filter mode to narrow the sessions." if path else None
    if not path or not value:
        return "Enter both a state path and a value to apply the filter."
    return None
