"""The web tests' data set, loaded over the public API, with every answer computable up front.

Each seeded session is described by a ``Spec`` (its state patches, metric points with
explicit timestamps, events, how it ends). The same specs feed a small independent model
(``expected_series``, ``expected_sessions``) so a test states its expectation as "what the
data says", not as a number copied by hand. The data holds the seed README's two example
queries with a planted answer, one session in every status, hostile strings for the
escaping tests, and more sessions of one product than fit on a page.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

XSS = "<script>alert(1)</script>"
XSS_STATE = "<img src=x onerror=alert(1)>"
XSS_METRIC = "</script><script>alert(2)</script>"
"""A metric name that would end the chart's JSON <script> block if it were not escaped."""
FILLERS = 60
"""More than one page (50) of sessions of the product ``filler``."""

TRACEBACK = [
    "Traceback (most recent call last):\n",
    '  File "probe.py", line 42, in launch\n',
    "    fire_thrusters()\n",
    "RuntimeError: thruster failure\n",
]


@dataclass
class Spec:
    """One seeded session: what is sent for it, and the status that must follow."""

    key: str
    product: str
    status: str
    states: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    events: list[tuple[str, Any]] = field(default_factory=list)
    end: str | None = None
    version: str = "1.0.0"
    host: str = "host-1"
    heartbeat_timeout: float | None = None
    points: list[tuple[str, float, datetime]] = field(default_factory=list)
    """(metric name, value, timestamp): filled in when the seed assigns timestamps."""


PROBES = [
    Spec(
        "p1",
        "probe-app",
        "ended",
        states=[{"window_state": {"open": ["main", "space probe"]}}],
        metrics={"memory_usage": [100, 250, 180]},
        events=[("started", {"pid": 11})],
        end="ended",
    ),
    Spec(
        "p2",
        "probe-app",
        "active",
        states=[{"window_state": {"open": ["space probe", "settings"]}}],
        metrics={"memory_usage": [300, 420, 390]},
    ),
    Spec(
        "p3",
        "probe-app",
        "ended",
        states=[{"window_state": {"open": ["main"]}}],
        metrics={"memory_usage": [500, 900]},
        end="ended",
    ),
    Spec(
        "p4",
        "probe-app",
        "crashed",
        states=[
            {"window_state": {"open": ["space probe"]}},
            {"window_state": {"open": ["main"]}},
        ],
        metrics={"memory_usage": [700, 650]},
        events=[
            ("started", {"pid": 44}),
            (
                "exception",
                {
                    "type": "RuntimeError",
                    "message": "thruster failure",
                    "traceback": TRACEBACK,
                    "fatal": True,
                },
            ),
        ],
    ),
]
"""p1, p2 have "space probe" open now; p3 never had it; p4 had it, closed it, then crashed."""

SERVICES = [
    Spec(
        "s1",
        "svc-worker",
        "active",
        states=[{"application": {"status": "running", "threads": 4}}],
        metrics={"cpu_usage": [10, 20, 30], "fps": [60, 58, 61, 59]},
    ),
    Spec(
        "s2",
        "svc-worker",
        "hung",
        states=[{"application": {"status": "running"}}],
        metrics={"cpu_usage": [40, 55]},
        events=[
            ("started", {"pid": 2}),
            ("tick", {"i": 0}),
            ("tick", {"i": 1}),
            ("tick", {"i": 2}),
            ("application_appears_hung", {"seconds": 5}),
        ],
    ),
    Spec(
        "s3",
        "svc-worker",
        "ended",
        states=[{"application": {"status": "running"}}, {"application": {"status": "stopped"}}],
        metrics={"cpu_usage": [90]},
        end="ended",
    ),
]
"""s1 and s2 run now; s3 ran and stopped (only mode ``ever`` finds it)."""

OTHERS = [
    Spec(
        "xss",
        XSS,
        "active",
        states=[{"html": XSS_STATE}],
        metrics={XSS_METRIC: [1, 2]},
        events=[(XSS, {"note": XSS})],
        version="<b>0.0.1</b>",
    ),
    Spec("ghost", "ghost-app", "abandoned", heartbeat_timeout=0.3),
]


@dataclass
class Seeded:
    """Ids by spec key, the specs, and the moments the time-range tests filter on."""

    url: str
    specs: dict[str, Spec]
    ids: dict[str, str]
    fillers: list[str]
    after_probes: datetime
    """Probes were created before this moment; everything else after it."""
    after_services: datetime
    """The services were created between ``after_probes`` and this; the rest after it."""
    created_by_tests: list[str] = field(default_factory=list)
    """Sessions tests opened, still active."""
    ended_by_tests: list[str] = field(default_factory=list)
    events_by_tests: int = 0
    points_by_tests: int = 0

    def status_counts(self) -> Counter[str]:
        """Seeded statuses plus the (active) sessions tests have opened since."""
        counts = Counter(spec.status for spec in self.specs.values())
        counts["active"] += len(self.fillers) + len(self.created_by_tests)
        counts["ended"] += len(self.ended_by_tests)
        return counts

    def seeded_events(self) -> int:
        return sum(len(spec.events) for spec in self.specs.values()) + self.events_by_tests

    def seeded_points(self) -> int:
        return sum(len(spec.points) for spec in self.specs.values()) + self.points_by_tests

    def open_session(self, http: httpx.Client, product: str) -> str:
        """A new active session made by a test, counted so dashboard totals stay known."""
        session_id = _ok(http.post("/api/sessions", json={"product": product}))["session_id"]
        self.created_by_tests.append(session_id)
        return session_id

    def end_session(self, http: httpx.Client, session_id: str) -> None:
        """End a session a test opened, keeping the expected status counts right."""
        _ok(http.post(f"/api/sessions/{session_id}/end", json={}))
        self.created_by_tests.remove(session_id)
        self.ended_by_tests.append(session_id)

    def log_event(self, http: httpx.Client, session_id: str, name: str) -> None:
        _ok(http.post(f"/api/sessions/{session_id}/events", json={"name": name}))
        self.events_by_tests += 1

    def log_metric(self, http: httpx.Client, session_id: str, name: str, value: float) -> None:
        body = {"name": name, "value": value}
        _ok(http.post(f"/api/sessions/{session_id}/metrics", json=body))
        self.points_by_tests += 1


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _next_second() -> datetime:
    """Sleep past the next whole second and return it: a boundary no creation time shares."""
    now = datetime.now(timezone.utc)
    boundary = now.replace(microsecond=0) + timedelta(seconds=1)
    time.sleep((boundary - now).total_seconds() + 0.02)
    return boundary


def _create(http: httpx.Client, spec: Spec) -> str:
    body: dict[str, Any] = {"product": spec.product, "version": spec.version, "host": spec.host}
    if spec.heartbeat_timeout is not None:
        body["heartbeat_timeout"] = spec.heartbeat_timeout
    return _ok(http.post("/api/sessions", json=body))["session_id"]


def seed(http: httpx.Client) -> Seeded:
    """Load the data set into an empty server; return what the tests need to know."""
    base = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=50)
    tick = iter(range(10_000))
    ids: dict[str, str] = {}
    groups: list[list[Spec]] = [PROBES, SERVICES, OTHERS]
    boundaries: list[datetime] = []
    for group in groups:
        if ids:
            boundaries.append(_next_second())
        for spec in group:
            ids[spec.key] = _create(http, spec)
    items: list[dict[str, Any]] = []
    for spec in (spec for group in groups for spec in group):
        sid = ids[spec.key]
        spec.points = []
        for patch in spec.states:
            _ok(http.post(f"/api/sessions/{sid}/state", json=patch))
        for name, values in spec.metrics.items():
            for value in values:
                moment = base + timedelta(seconds=15 * next(tick))
                spec.points.append((name, float(value), moment))
                items.append(
                    {
                        "op": "metric",
                        "session_id": sid,
                        "name": name,
                        "value": value,
                        "timestamp": _stamp(moment),
                    }
                )
        for name, data in spec.events:
            moment = base + timedelta(seconds=15 * next(tick))
            items.append(
                {
                    "op": "event",
                    "session_id": sid,
                    "name": name,
                    "data": data,
                    "timestamp": _stamp(moment),
                }
            )
        if spec.end:
            items.append({"op": "end", "session_id": sid, "status": spec.end})
    _ok(http.post("/api/batch", json={"items": items}))
    fillers = [
        _ok(http.post("/api/sessions", json={"product": "filler", "host": f"h{i:02d}"}))[
            "session_id"
        ]
        for i in range(FILLERS)
    ]
    # The oldest filler is the most recently seen: sorting by last seen differs from created.
    _ok(http.post(f"/api/sessions/{fillers[0]}/heartbeat", json={}))
    specs = {spec.key: spec for group in groups for spec in group}
    return Seeded(str(http.base_url), specs, ids, fillers, boundaries[0], boundaries[1])


# -- the model: what the server must answer, computed from the specs alone -------------

_MISSING = object()


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            value = _merge(merged[key], value)
        merged[key] = value
    return merged


def current_state(spec: Spec) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for patch in spec.states:
        state = _merge(state, patch)
    return state


def _at(value: Any, path: str) -> Any:
    for key in path.split("."):
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return _MISSING
    return value


def _equals(doc: dict[str, Any], path: str, value: str) -> bool:
    found = _at(doc, path)
    return isinstance(found, str | int | float) and str(found) == value


def _contains(doc: dict[str, Any], path: str, value: str) -> bool:
    found = _at(doc, path)
    return isinstance(found, list) and any(str(item) == value for item in found)


def state_matches(spec: Spec, mode: str, path: str, value: str) -> bool:
    """The seed's three state filters: current value, array membership, or ever in history."""
    if mode == "none" or not path or not value:
        return True
    if mode == "current":
        return _equals(current_state(spec), path, value)
    if mode == "contains":
        return _contains(current_state(spec), path, value)
    return any(_equals(p, path, value) or _contains(p, path, value) for p in spec.states)


def expected_keys(specs: list[Spec], mode: str, path: str, value: str) -> set[str]:
    return {spec.key for spec in specs if state_matches(spec, mode, path, value)}


@dataclass(frozen=True)
class Stats:
    """The explorer's stat cards, formatted as the page shows them."""

    sessions: str
    peak: str
    average: str
    min: str
    points: str


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:,.6g}"


def expected_series(
    specs: list[Spec],
    name: str,
    aggregation: str = "all",
    mode: str = "none",
    path: str = "",
    value: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> Stats:
    """What the explorer must show for a query over the seeded specs."""
    per_session: dict[str, list[float]] = {}
    for spec in specs:
        if not state_matches(spec, mode, path, value):
            continue
        for metric, number, moment in spec.points:
            if metric != name or (since and moment < since) or (until and moment >= until):
                continue
            per_session.setdefault(spec.key, []).append(number)
    if aggregation == "all":
        values = [v for series in per_session.values() for v in series]
    else:
        reduce = {"peak": max, "min": min, "avg": lambda xs: sum(xs) / len(xs)}[aggregation]
        values = [reduce(series) for series in per_session.values()]
    return Stats(
        sessions=str(len(per_session)),
        peak=_fmt(max(values) if values else None),
        average=_fmt(sum(values) / len(values) if values else None),
        min=_fmt(min(values) if values else None),
        points=str(len(values)),
    )
