"""The web tests' data set: small, loaded over the public API, with answers known up front.

It holds the seed README's two example queries with a planted answer — which sessions
have "space probe" among ``window_state.open`` and what their memory peaks are; which
sessions run (``application.status == "running"``) and their CPU points — plus one
session in every status, hostile strings for the escaping tests, and enough filler
sessions that the browser needs a second page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

XSS_EVENT = "<script>alert(1)</script>"
XSS_PRODUCT = "<b>bold-product</b>"
XSS_STATE_HTML = "<img src=x onerror=alert(2)>"
XSS_KEY = "<i>key</i>"
XSS_METRIC = "<svg onload=alert(3)>"
FILLER = 55
"""Filler sessions: with the rest, more than one page of 50 in the browser."""

MEMORY = {"p1": [100, 250, 180], "p2": [300, 420, 390], "p3": [500, 900], "p4": [700]}
"""memory_usage per probe session: p1 and p2 have "space probe" open now (peaks 250 and 420),
p3 never had it, p4 had it once and closed it (only the ``ever`` mode finds p4)."""

CPU = {"s1": [10, 20, 30], "s2": [40, 50], "s3": [90]}
"""cpu_usage per service session: s1 and s2 run now, s3 ran once and stopped."""


@dataclass
class Seeded:
    """Ids of the seeded sessions by role, and the moments the tests filter on."""

    ids: dict[str, str] = field(default_factory=dict)
    filler: list[str] = field(default_factory=list)
    split_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    """Created after this: the service sessions and everything later; before: the probes."""
    cpu_window_start: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    """cpu_usage points at or after this moment: only s2's (s1's are older)."""

    @property
    def total(self) -> int:
        return len(self.ids) + len(self.filler)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()


def open_session(http: httpx.Client, **body: Any) -> str:
    return _ok(http.post("/api/sessions", json=body or None))["session_id"]


def seed(http: httpx.Client) -> Seeded:
    """Load the data set into an empty server; return what the tests need to know."""
    data = Seeded()
    now = datetime.now(timezone.utc)
    probe = {"product": "probe-app", "version": "1.2.0", "host": "lab-1"}
    for role, windows in (
        ("p1", ["main", "space probe"]),
        ("p2", ["space probe", "settings"]),
        ("p3", ["main"]),
        ("p4", ["space probe"]),
    ):
        sid = data.ids[role] = open_session(http, **probe)
        _ok(http.post(f"/api/sessions/{sid}/state", json={"window_state": {"open": windows}}))
        for i, value in enumerate(MEMORY[role]):
            moment = _stamp(now - timedelta(minutes=50 - i))
            item = {"name": "memory_usage", "value": value, "timestamp": moment}
            _ok(http.post(f"/api/sessions/{sid}/metrics", json=item))
    p4 = data.ids["p4"]
    _ok(http.post(f"/api/sessions/{p4}/state", json={"window_state": {"open": ["main"]}}))
    _ok(http.post(f"/api/sessions/{data.ids['p1']}/end", json={}))
    _ok(http.post(f"/api/sessions/{data.ids['p3']}/end", json={}))
    _ok(http.post(f"/api/sessions/{p4}/end", json={"status": "crashed"}))

    # The browser's time inputs hold whole seconds: put the split on a second boundary.
    moment = datetime.now(timezone.utc)
    data.split_at = moment.replace(microsecond=0) + timedelta(seconds=1)
    time.sleep((data.split_at - moment).total_seconds() + 0.01)
    data.cpu_window_start = now - timedelta(minutes=20)
    service = {"product": "svc-worker", "version": "2.0.1", "host": "node-7"}
    for role, status in (("s1", "running"), ("s2", "running"), ("s3", "running")):
        sid = data.ids[role] = open_session(http, **service)
        _ok(http.post(f"/api/sessions/{sid}/state", json={"application": {"status": status}}))
        minutes_ago = 30 if role == "s1" else 10
        for i, value in enumerate(CPU[role]):
            moment = _stamp(now - timedelta(minutes=minutes_ago - i))
            item = {"name": "cpu_usage", "value": value, "timestamp": moment}
            _ok(http.post(f"/api/sessions/{sid}/metrics", json=item))
    s2, s3 = data.ids["s2"], data.ids["s3"]
    _ok(http.post(f"/api/sessions/{s2}/events", json={"name": "application_appears_hung"}))
    _ok(http.post(f"/api/sessions/{s3}/state", json={"application": {"status": "stopped"}}))
    _ok(http.post(f"/api/sessions/{s3}/end", json={}))

    xss = data.ids["xss"] = open_session(http, product=XSS_PRODUCT, version="0.0.1")
    _ok(
        http.post(
            f"/api/sessions/{xss}/state",
            json={"html": XSS_STATE_HTML, XSS_KEY: {"nested": ["</script><b>x</b>"]}},
        )
    )
    _ok(http.post(f"/api/sessions/{xss}/events", json={"name": XSS_EVENT, "data": XSS_EVENT}))
    exception = {
        "type": "ValueError",
        "message": "bad <value>",
        "traceback": 'Traceback (most recent call last):\n  File "app.py", line 3\nValueError\n',
        "fatal": False,
    }
    _ok(http.post(f"/api/sessions/{xss}/events", json={"name": "exception", "data": exception}))
    _ok(http.post(f"/api/sessions/{xss}/metrics", json={"name": XSS_METRIC, "value": 1}))
    for i in range(5):
        _ok(http.post(f"/api/sessions/{xss}/events", json={"name": "tick", "data": {"i": i}}))

    data.ids["gone"] = open_session(http, product="ghost", heartbeat_timeout=0.2)
    data.filler = [open_session(http, product="filler", host=f"h{i}") for i in range(FILLER)]
    return data
