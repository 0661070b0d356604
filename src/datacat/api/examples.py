"""Worked examples for ``/docs``: a request and an answer for every API operation.

They live here, apart from the models, so one table shows what a user of each operation
sends and gets back, and ``tests/api/test_openapi_examples.py`` can check every one: each
answer validates against its documented schema, and each request, sent to a real server
on both backends, is accepted. ``SESSION`` stands for a session id; the test swaps in a
real one.
"""

from __future__ import annotations

from typing import Any

SESSION = "0193a5f2-7c1e-7d4b-9a3e-2f5a8b7c6d10"
_OTHER = "0193a5f2-9b02-7e11-8c44-61d0f3a2b9e7"
_T0 = "2026-11-28T17:42:10.123456Z"
_T1 = "2026-11-28T17:42:11.500000Z"

Example = tuple[str, Any]
"""A one-line summary and the value."""

_EVENT_PLAIN = {"name": "file_opened", "data": {"path": "/tmp/probe.dat", "size": 1024}}
_EVENT_LEVELLED = {
    "name": "retry",
    "data": {"attempt": 2},
    "level": "warning",
    "message": "upstream timed out, retrying",
    "category": "network",
    "labels": ["eu-west", "upstream"],
    "timestamp": _T0,
    "id": "w1-000017",
}
_EXCEPTION = {
    "name": "exception",
    "level": "error",
    "data": {
        "type": "ValueError",
        "message": "invalid literal for int() with base 10: 'x'",
        "traceback": [
            "Traceback (most recent call last):",
            '  File "/srv/app/probe/worker.py", line 42, in run',
            "ValueError: invalid literal for int() with base 10: 'x'",
        ],
        "frames": [
            {
                "file": "/srv/app/probe/worker.py",
                "line": 42,
                "function": "run",
                "module": "probe.worker",
                "in_app": True,
            }
        ],
    },
}
_METRIC_PLAIN = {"name": "memory_usage", "value": 182.5, "tags": ["worker-1"]}
_METRIC_TIMER = {
    "name": "frame_time",
    "value": 16.7,
    "kind": "timer",
    "unit": "ms",
    "timestamp": _T0,
    "id": "w1-000018",
}
_METRIC_COUNTER = {"name": "jobs_done", "value": 1, "kind": "counter"}
_METRIC_HISTOGRAM = {
    "name": "frame_ms",
    "kind": "histogram",
    "unit": "ms",
    "buckets": [{"le": 16.7, "count": 950}, {"le": 33.3, "count": 40}, {"le": None, "count": 10}],
    "sum": 12345.6,
    "count": 1000,
}

_EVENT_OUT = {
    "timestamp": _T0,
    "name": "retry",
    "data": {"attempt": 2},
    "level": "warning",
    "message": "upstream timed out, retrying",
    "category": "network",
    "labels": ["eu-west", "upstream"],
}
_EVENT_DEFAULTS = {
    "timestamp": _T1,
    "name": "file_opened",
    "data": {"path": "/tmp/probe.dat"},
    "level": "info",
    "message": None,
    "category": None,
    "labels": None,
}
_METRIC_OUT = {
    "timestamp": _T0,
    "name": "frame_time",
    "value": 16.7,
    "tags": [],
    "kind": "timer",
    "unit": "ms",
}
_SUMMARY = {
    "id": SESSION,
    "created_at": "2026-11-28T17:40:00.000000Z",
    "updated_at": _T1,
    "ended_at": None,
    "last_seen_at": _T1,
    "active": True,
    "status": "active",
    "product": "space-probe",
    "version": "1.4.0",
    "host": "probe-7",
    "metadata": {"build": "a1b2c3"},
    "heartbeat_timeout": 30.0,
    "state": {"window_state": {"open": ["space probe"]}, "application": {"status": "running"}},
}
_DETAIL = {**_SUMMARY, "events": [_EVENT_OUT], "metrics": [_METRIC_OUT]}
_OK: dict[str, Example] = {"ok": ("Accepted (stored once committed)", {"status": "ok"})}

_SERIES_POINTS = [
    {"timestamp": _T0, "value": 212.0, "session_id": SESSION},
    {"timestamp": _T1, "value": 198.5, "session_id": _OTHER},
]


def _series(**fields: Any) -> dict[str, Any]:
    return {
        "peak": 212.0,
        "average": 205.25,
        "min": 198.5,
        "sessions_matched": 2,
        "points_matched": 2,
        "truncated": False,
        **fields,
    }


_BUCKETS = [
    {"timestamp": "2026-11-27T00:00:00.000000Z", "value": 17.9},
    {"timestamp": "2026-11-28T00:00:00.000000Z", "value": 16.4},
]

REQUESTS: dict[tuple[str, str], dict[str, Example]] = {
    ("POST", "/api/sessions"): {
        "full": (
            "A session with everything optional set",
            {
                "product": "space-probe",
                "version": "1.4.0",
                "host": "probe-7",
                "metadata": {"build": "a1b2c3"},
                "heartbeat_timeout": 30,
            },
        ),
        "empty": ("The seed's bare call: an empty body", {}),
    },
    ("POST", "/api/sessions/{session_id}/state"): {
        "merge": (
            "Deep-merged into the state",
            {"window_state": {"open": ["space probe"]}, "application": {"status": "running"}},
        ),
    },
    ("POST", "/api/sessions/{session_id}/events"): {
        "plain": ("The seed's event: a name and any JSON", _EVENT_PLAIN),
        "levelled": ("A levelled event with a message, category and labels", _EVENT_LEVELLED),
        "exception": ("An exception with structured frames (grouped by cause)", _EXCEPTION),
    },
    ("POST", "/api/sessions/{session_id}/metrics"): {
        "gauge": ("A sampled value (kind gauge by default)", _METRIC_PLAIN),
        "timer": ("A duration in ms, with the client's time and id", _METRIC_TIMER),
        "counter": ("A counter delta", _METRIC_COUNTER),
        "histogram": (
            "A pre-aggregated histogram: bucket counts (le null = +Inf), their sum and count",
            _METRIC_HISTOGRAM,
        ),
    },
    ("POST", "/api/sessions/{session_id}/end"): {
        "ended": ("A clean end", {"status": "ended"}),
        "crashed": ("The application is going down with an error", {"status": "crashed"}),
    },
    ("POST", "/api/sessions/{session_id}/heartbeat"): {
        "arm": ("A keep-alive that arms abandonment after 30 s of silence", {"timeout": 30}),
    },
    ("POST", "/api/batch"): {
        "mixed": (
            "Writes to one session in order, in one transaction",
            {
                "items": [
                    {"op": "state", "session_id": SESSION, "state": {"step": 3}, "id": "s-3"},
                    {"op": "event", "session_id": SESSION, **_EVENT_LEVELLED},
                    {"op": "metric", "session_id": SESSION, **_METRIC_TIMER},
                    {"op": "metric", "session_id": SESSION, **_METRIC_HISTOGRAM},
                    {"op": "heartbeat", "session_id": SESSION, "timeout": 30},
                    {"op": "end", "session_id": SESSION, "status": "ended"},
                ]
            },
        ),
    },
    ("POST", "/api/keys"): {
        "ingest": ("A key that may only write", {"scope": "ingest", "name": "probe-fleet"}),
    },
}

RESPONSES: dict[tuple[str, str], dict[str, Example]] = {
    ("POST", "/api/sessions"): {"created": ("The new session's id", {"session_id": SESSION})},
    ("GET", "/api/sessions"): {
        "page": (
            "Summaries, newest first; pass next_cursor back for the next page",
            {"items": [_SUMMARY], "next_cursor": "eyJrIjoxNzMyODE1NjAwMDAwMDAwfQ"},
        ),
    },
    ("GET", "/api/sessions/{session_id}"): {
        "session": ("The whole session, as the original answered", _DETAIL),
    },
    ("DELETE", "/api/sessions/{session_id}"): _OK,
    ("POST", "/api/sessions/{session_id}/state"): _OK,
    ("POST", "/api/sessions/{session_id}/events"): _OK,
    ("POST", "/api/sessions/{session_id}/metrics"): _OK,
    ("POST", "/api/sessions/{session_id}/end"): _OK,
    ("POST", "/api/sessions/{session_id}/heartbeat"): _OK,
    ("GET", "/api/sessions/{session_id}/events"): {
        "page": (
            "Events in order; rows sent without the optional fields show their defaults",
            {
                "items": [{**_EVENT_OUT, "id": 41}, {**_EVENT_DEFAULTS, "id": 42}],
                "next_cursor": None,
            },
        ),
    },
    ("GET", "/api/sessions/{session_id}/metrics"): {
        "page": (
            "Metrics in order, with kind and unit; a histogram with its count and buckets",
            {
                "items": [
                    {**_METRIC_OUT, "id": 7},
                    {
                        "timestamp": _T1,
                        "name": "memory_usage",
                        "value": 182.5,
                        "tags": ["worker-1"],
                        "kind": "gauge",
                        "unit": None,
                        "id": 8,
                    },
                    {
                        "timestamp": _T1,
                        "name": "frame_ms",
                        "value": 12.3456,
                        "tags": None,
                        "kind": "histogram",
                        "unit": "ms",
                        "id": 9,
                        "count": 1000,
                        "buckets": _METRIC_HISTOGRAM["buckets"],
                    },
                ],
                "next_cursor": None,
            },
        ),
    },
    ("GET", "/api/sessions/{session_id}/state/history"): {
        "page": (
            "Every patch as it was sent",
            {
                "items": [
                    {"id": 3, "timestamp": _T0, "patch": {"application": {"status": "starting"}}},
                    {"id": 4, "timestamp": _T1, "patch": {"application": {"status": "running"}}},
                ],
                "next_cursor": None,
            },
        ),
    },
    ("POST", "/api/batch"): {
        "stored": (
            "Six items stored; a resent id counts as a duplicate",
            {"status": "ok", "accepted": 6, "duplicates": 0},
        ),
    },
    ("GET", "/api/metrics/names"): {
        "names": ("Every metric name ever logged", {"names": ["frame_time", "memory_usage"]}),
    },
    ("GET", "/api/metrics/series"): {
        "per_session": (
            "aggregation=peak: one point per session",
            _series(name="memory_usage", aggregation="peak", points=_SERIES_POINTS),
        ),
        "bucketed": (
            "aggregation=p95&bucket=1d: one point per day across sessions",
            _series(
                name="frame_time",
                aggregation="p95",
                bucket="1d",
                points=_BUCKETS,
                peak=17.9,
                average=17.15,
                min=16.4,
                sessions_matched=140,
                points_matched=2,
            ),
        ),
        "grouped": (
            "aggregation=p95&bucket=1d&group_by=version: one series per version",
            {
                "name": "frame_time",
                "aggregation": "p95",
                "bucket": "1d",
                "group_by": "version",
                "groups": [
                    {
                        "group": "1.4.0",
                        "points": _BUCKETS,
                        "peak": 17.9,
                        "average": 17.15,
                        "min": 16.4,
                        "sessions_matched": 90,
                        "points_matched": 2,
                        "truncated": False,
                    },
                    {
                        "group": "1.5.0",
                        "points": [{"timestamp": "2026-11-28T00:00:00.000000Z", "value": 12.1}],
                        "peak": 12.1,
                        "average": 12.1,
                        "min": 12.1,
                        "sessions_matched": 50,
                        "points_matched": 1,
                        "truncated": False,
                    },
                ],
            },
        ),
    },
    ("GET", "/api/events"): {
        "errors": (
            "level=error&product=space-probe: the latest errors, each with its session",
            {
                "items": [
                    {
                        **_EVENT_OUT,
                        "level": "error",
                        "id": 90211,
                        "session_id": SESSION,
                        "product": "space-probe",
                        "version": "1.4.0",
                    }
                ],
                "next_cursor": "eyJ0IjoxNzMyODE1NzMwMTIzNDU2LCJpIjo5MDIxMX0",
            },
        ),
    },
    ("GET", "/api/grafana/sessions"): {
        "sessions": ("Every matching session, whole, as one JSON array", [_DETAIL]),
    },
    ("GET", "/api/keys"): {
        "keys": (
            "Keys by prefix; the key itself is never shown again",
            {
                "items": [
                    {
                        "prefix": "dc_4kq9XbT2",
                        "name": "probe-fleet",
                        "scope": "ingest",
                        "created_at": _T0,
                        "last_used_at": _T1,
                        "revoked_at": None,
                    }
                ]
            },
        ),
    },
    ("POST", "/api/keys"): {
        "created": (
            "The key, shown this once",
            {
                "key": "dc_4kq9XbT2Jm0cQe7yVw3nLr8sPa5dHf1gUi6oZk",
                "prefix": "dc_4kq9XbT2",
                "name": "probe-fleet",
                "scope": "ingest",
            },
        ),
    },
    ("DELETE", "/api/keys/{key}"): _OK,
}


def attach(schema: dict[str, Any]) -> None:
    """Put the examples into the OpenAPI document FastAPI built (as named examples)."""
    for (method, path), operation in _operations(schema):
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if content is not None and (method, path) in REQUESTS:
            content["examples"] = _named(REQUESTS[method, path])
        answer = operation.get("responses", {}).get("200", {}).get("content", {})
        body = answer.get("application/json")
        if body is not None and (method, path) in RESPONSES:
            body["examples"] = _named(RESPONSES[method, path])


def _operations(schema: dict[str, Any]) -> list[tuple[tuple[str, str], dict[str, Any]]]:
    return [
        ((method.upper(), path), operation)
        for path, operations in schema.get("paths", {}).items()
        for method, operation in operations.items()
    ]


def _named(examples: dict[str, Example]) -> dict[str, dict[str, Any]]:
    return {
        name: {"summary": summary, "value": value} for name, (summary, value) in examples.items()
    }
