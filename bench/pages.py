"""Server time of each web UI page and issue 12 query at 10,000 sessions and 1M points.

Issue 4 asks every page to render in under 300 ms of server time at that size (judged on
p99); issue 12 asks each of its new queries and pages to answer with p50 < 150 ms (the
rows labelled in ``ISSUE_12``, the exceptions rows and the second page of events). This
seeds a fresh SQLite file through the public API (``POST /api/sessions`` with a product
and version, then ``POST /api/batch`` with 5,000 items per body), then requests each page
~20 times and prints one JSON line per page::

    {"measure": "page_ms", "page": "/sessions", "p50": 12.3, "p99": 20.1, ...,
     "target": "p99 < 300 ms", "met": true}

``p50``/``p99`` are the wall time of an httpx GET on the same machine (2 warm-ups, then
``--requests`` timed, 20 by default), so they include the HTTP round trip over loopback;
``server_p50``/``server_p99`` are the server's own figure, the ``Server-Timing: app;dur=``
header the UI sets (queries plus template rendering; API rows repeat the wall time). Each
line also names the data size (``sessions``, ``points``, ``events``) and ``cores``.

    python -m bench.pages                                   # 10k sessions, 1M points
    python -m bench.pages --sessions 200 --points 20000 --events 6000   # seconds
    python -m bench.pages --keep /tmp/pages.db --only events  # seed once, measure again
    python -m bench.pages --url http://127.0.0.1:8080       # measure a running server as is

The data, deterministic per session index:

- three products, five versions (newer ones hold more sessions);
- a state per session (a third with "space probe" among ``window_state.open``, a third
  with ``application.status == "running"``, so each state filter matches about a third);
- each session runs 6 hours, starting some time in the last week: a ``started`` event at
  its start, then ``--events`` in all of levelled events during the run (names, levels
  debug..error, messages with numbers, categories, some labels);
  ``sync_failed`` messages contain "timed out" (about 1 event in 34);
- 5% of sessions raise 1-3 exceptions with structured frames (36 causes: 12 types x 3 code
  paths, line numbers shifting), a quarter of them fatally; 2% hung then recovered, 0.5%
  are still hung; 70% ended, 10% ended as crashed, the rest active;
- ``points / sessions`` metric points: ``memory_usage`` (MB) and ``cpu_usage`` (%) gauges
  within the last hour (the dashboard's "last hour" counts cover them), and ``frame_time``
  timers in ms tagged ``gpu``, during each run (a week in all: what buckets draw).

Rows for endpoints the server lacks (a 404: the exceptions pages before they land) are
left out with the reason on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from bench import seed
from bench.server import serve
from datacat.store import status as rules

TARGET_MS = 300.0
ISSUE_12_TARGET_MS = 150.0
EXAMPLE_SPACE_PROBE = (
    "/metrics?name=memory_usage&aggregation=peak&mode=contains"
    "&path=window_state.open&value=space+probe"
)
EXAMPLE_RUNNING_CPU = (
    "/metrics?name=cpu_usage&aggregation=all&mode=current&path=application.status&value=running"
)


PRODUCTS = ("probe-app", "ground-station", "telemetry-cli")
VERSIONS = ("1.2.0", "1.3.0", "1.4.0", "1.5.0", "2.0.0")
"""Newer versions hold more sessions: version ``i`` gets weight ``i + 1``."""
GPUS = ("intel", "amd", "nvidia")
CATEGORIES = ("ui", "net", "storage", "render")
MATCHES_SOME = "timed out"
"""In the message of ``sync_failed`` events (about 1 in 40 events)."""
MATCHES_NOTHING = "no-such-text"
EVENT_KINDS: tuple[tuple[str, str, str, int], ...] = (
    # name, level, message template ({n}: a number), weight
    ("user_action", "info", "clicked button-{n}", 10),
    ("request", "debug", "GET /api/items/{n} 200", 10),
    ("cache_miss", "debug", "key item:{n} not cached", 5),
    ("frame_drop", "warning", "frame took {n} ms", 5),
    ("login", "info", "user u{n} signed in", 2),
    ("disk_low", "warning", "{n} MB free", 1),
    ("sync_failed", "error", "upload timed out after {n} s", 1),
)
EXCEPTION_TYPES = (
    "ValueError", "KeyError", "TimeoutError", "ZeroDivisionError", "IndexError",
    "RuntimeError", "PermissionError", "ConnectionResetError", "TypeError",
    "AttributeError", "OSError", "MemoryError",
)  # fmt: skip
EXCEPTION_PATHS = (
    ("app/main.py", "run"),
    ("app/sync.py", "upload"),
    ("app/render.py", "draw_frame"),
)
WEEK_MS = 7 * 24 * 3600 * 1000
RUN_MS = 6 * 3600 * 1000
"""Each session's events and frame times fall within 6 hours after its start, and the
starts spread over the last week: the newest events are of every kind, as in real use."""
EVENTS_PER_SESSION = 30


def version_of(index: int) -> str:
    """Deterministic and uneven: 1, 2, 3, 4, 5 shares for the five versions."""
    slot = (index * 7919) % 15
    for i in range(len(VERSIONS)):
        slot -= i + 1
        if slot < 0:
            return VERSIONS[i]
    return VERSIONS[-1]


def session_body(index: int) -> dict[str, Any]:
    return {"product": PRODUCTS[index % len(PRODUCTS)], "version": version_of(index)}


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _exception(rng: random.Random, fatal: bool) -> dict[str, Any]:
    """One of 36 causes (12 types x 3 code paths), line numbers varying as code shifts."""
    kind = rng.randrange(len(EXCEPTION_TYPES) * len(EXCEPTION_PATHS))
    exc_type = EXCEPTION_TYPES[kind % len(EXCEPTION_TYPES)]
    path, function = EXCEPTION_PATHS[kind // len(EXCEPTION_TYPES)]
    frames = [
        {"file": "app/main.py", "line": 10 + rng.randrange(3), "function": "main", "in_app": True},
        {"file": path, "line": 40 + rng.randrange(5), "function": function, "in_app": True},
        {"file": "/usr/lib/python3/json/decoder.py", "line": 337, "function": "decode",
         "in_app": False},
    ]  # fmt: skip
    message = f"{exc_type.lower()} in {function} #{rng.randrange(1000)}"
    data: dict[str, Any] = {
        "type": exc_type,
        "message": message,
        "frames": frames,
        "traceback": [f'  File "{f["file"]}", line {f["line"]}, in {f["function"]}' for f in frames]
        + [f"{exc_type}: {message}"],
    }
    if fatal:
        data["fatal"] = True
    return {"name": "exception", "data": data, "level": "critical" if fatal else "error",
            "message": message, "category": "crash"}  # fmt: skip


def _during(start: datetime, rng: random.Random) -> str:
    return _stamp(start + timedelta(milliseconds=rng.randrange(RUN_MS)))


def _events(s: int, count: int, rng: random.Random, start: datetime) -> Iterator[dict[str, Any]]:
    """``count`` levelled events during the run, then the session's special ones."""
    weights = [k[3] for k in EVENT_KINDS]
    for _ in range(count):
        name, level, template, _weight = rng.choices(EVENT_KINDS, weights)[0]
        item: dict[str, Any] = {
            "name": name,
            "level": level,
            "message": template.format(n=rng.randrange(1, 500)),
            "category": rng.choice(CATEGORIES),
            "timestamp": _during(start, rng),
        }
        if rng.random() < 0.1:
            item["labels"] = ["beta"] if rng.random() < 0.5 else ["beta", "eu"]
        yield item
    if s % 20 == 7:  # ~5% of sessions raise; a quarter of those fatally (crashed)
        for k in range(1 + s % 3):
            yield {
                **_exception(rng, fatal=(s % 80 == 7 and k == 0)),
                "timestamp": _during(start, rng),
            }
    if s % 50 == 11:  # hung, then recovered (active again, "ever hung")
        hung = start + timedelta(milliseconds=rng.randrange(RUN_MS - 60_000))
        yield {"name": rules.HUNG_EVENT, "level": "warning", "timestamp": _stamp(hung)}
        recovered = _stamp(hung + timedelta(seconds=30))
        yield {"name": rules.RECOVERED_EVENT, "level": "info", "timestamp": recovered}
    elif s % 200 == 13:  # still hung
        yield {"name": rules.HUNG_EVENT, "level": "warning", "timestamp": _during(start, rng)}


def _items(ids: list[str], points: int, events: int) -> Iterator[dict[str, Any]]:
    """State, events, metric points and the ending of every session, as batch items."""
    now = datetime.now(timezone.utc)
    per_session, extra = divmod(points, len(ids))
    events_each, events_extra = divmod(max(events - len(ids), 0), len(ids))
    span_ms = 55 * 60 * 1000  # within the last hour
    for s, session_id in enumerate(ids):
        rng = random.Random(s)
        windows = ["main", "space probe"] if s % 3 == 0 else ["main"]
        status = "running" if s % 3 == 1 else "stopped"
        yield {
            "op": "state",
            "session_id": session_id,
            "state": {"window_state": {"open": windows}, "application": {"status": status}},
        }
        start = now - timedelta(milliseconds=rng.randrange(RUN_MS, WEEK_MS))
        yield {
            "op": "event",
            "session_id": session_id,
            "name": "started",
            "data": {"n": s},
            "timestamp": _stamp(start),
        }
        n_events = events_each + (1 if s < events_extra else 0)
        for event in _events(s, n_events, rng, start):
            yield {"op": "event", "session_id": session_id, **event}
        count = per_session + (1 if s < extra else 0)
        tags = {"gpu": GPUS[s % len(GPUS)]}
        for j in range(count):
            kind = j % 3
            if kind == 2:  # frame times: a week of them, for buckets worth drawing
                yield {
                    "op": "metric",
                    "session_id": session_id,
                    "name": "frame_time",
                    "value": round(8 + rng.expovariate(1 / 8), 2),
                    "kind": "timer",
                    "unit": "ms",
                    "tags": tags,
                    "timestamp": _during(start, rng),
                }
                continue
            moment = now - timedelta(milliseconds=span_ms * (count - j) / max(count, 1))
            yield {
                "op": "metric",
                "session_id": session_id,
                "name": "memory_usage" if kind == 0 else "cpu_usage",
                "value": float((s * 31 + j * 17) % 1000),
                "unit": "MB" if kind == 0 else "%",
                "timestamp": _stamp(moment),
            }
        if s % 200 == 13:
            continue  # left hung
        if s % 10 < 7:
            yield {"op": "end", "session_id": session_id}
        elif s % 10 == 7:
            yield {"op": "end", "session_id": session_id, "status": "crashed"}


def load(url: str, sessions: int, points: int, events: int) -> dict[str, Any]:
    """Seed a server; return how long it took (the figures are for the reader's sanity)."""
    started = time.perf_counter()
    ids = seed.create_sessions(url, sessions, body=session_body)
    created = time.perf_counter()
    bodies = list(seed.chunks(_items(ids, points, events)))
    accepted, seconds = seed.post_batches(url, bodies)
    return {
        "sessions": len(ids),
        "items": accepted,
        "create_s": round(created - started, 1),
        "batch_s": round(seconds, 1),
    }


def _percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: with 20 samples, p99 is the slowest one."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


SERIES = "/api/metrics/series?name=frame_time"
METRICS_PAGE = "/metrics?name=frame_time"
ISSUE_12 = {
    # Release health, events across sessions, the session browser's new filters.
    "/api/releases": "/api/releases",
    "/api/releases (one product)": "/api/releases?product=probe-app",
    "/api/events": "/api/events",
    "/api/events (name)": "/api/events?name=sync_failed",
    "/api/events (level error)": "/api/events?level=error",
    "/api/events (q matching some)": "/api/events?q=" + MATCHES_SOME.replace(" ", "+"),
    "/api/events (q matching nothing)": f"/api/events?q={MATCHES_NOTHING}",
    "/api/events (product + version)": "/api/events?product=probe-app&version=1.2.0",
    "/api/events (critical, one product)": "/api/events?level=critical&product=ground-station",
    "/api/sessions (version)": "/api/sessions?version=1.5.0",
    "/api/sessions (has event)": "/api/sessions?event=exception",
    "/api/sessions (ever hung)": "/api/sessions?ever_hung=true",
    "/api/sessions (q matching some)": "/api/sessions?q=" + MATCHES_SOME.replace(" ", "+"),
    "/api/sessions (q matching nothing)": f"/api/sessions?q={MATCHES_NOTHING}",
    # The explorer's new aggregations, buckets and groups over a week of frame times.
    "series p50": f"{SERIES}&aggregation=p50",
    "series p95 bucket=auto": f"{SERIES}&aggregation=p95&bucket=auto",
    "series p99 bucket=1h": f"{SERIES}&aggregation=p99&bucket=1h",
    "series sum bucket=auto": f"{SERIES}&aggregation=sum&bucket=auto",
    "series count bucket=1h": f"{SERIES}&aggregation=count&bucket=1h",
    "series p95 by version": f"{SERIES}&aggregation=p95&group_by=version",
    "series p95 bucket=auto by version": f"{SERIES}&aggregation=p95&bucket=auto&group_by=version",
    "series p50 bucket=1h by product": f"{SERIES}&aggregation=p50&bucket=1h&group_by=product",
    "series p99 by tag:gpu": f"{SERIES}&aggregation=p99&group_by=tag:gpu",
    "series count bucket=auto by tag:gpu": f"{SERIES}&aggregation=count&bucket=auto"
    "&group_by=tag:gpu",
    # The same through the pages.
    "/releases": "/releases",
    "/events": "/events",
    "/events (level error)": "/events?level=error",
    "/events (q matching some)": "/events?q=" + MATCHES_SOME.replace(" ", "+"),
    "/events (q matching nothing)": f"/events?q={MATCHES_NOTHING}",
    "/events (product + version)": "/events?product=probe-app&version=1.2.0",
    "/sessions (version)": "/sessions?version=1.5.0",
    "/sessions (has event)": "/sessions?event=exception",
    "/sessions (ever hung)": "/sessions?ever_hung=true",
    "/sessions (event search)": "/sessions?q=" + MATCHES_SOME.replace(" ", "+"),
    "/sessions (event search, nothing)": f"/sessions?q={MATCHES_NOTHING}",
    "/metrics (p95 bucket=auto)": f"{METRICS_PAGE}&aggregation=p95&bucket=auto",
    "/metrics (p95 by version)": f"{METRICS_PAGE}&aggregation=p95&group_by=version",
    "/metrics (p99 bucket=1h by tag:gpu)": f"{METRICS_PAGE}&aggregation=p99&bucket=1h"
    "&group_by=tag:gpu",
}
"""Issue 12's queries and pages, each judged by its target: p50 < 150 ms."""


def pages(client: httpx.Client) -> dict[str, str]:
    """Every page and query worth timing, by label; ids come from the server itself.

    Rows whose endpoint this server does not have (the exceptions API before it lands)
    are left out with the reason on stderr, so the run still measures everything else.
    """
    listing = client.get("/api/sessions", params={"limit": 1, "status": "active"}).json()["items"]
    targets = {
        "/": "/",
        "/ui/dashboard": "/ui/dashboard",
        "/sessions": "/sessions",
        "/sessions (state contains)": "/sessions?state_path=window_state.open"
        "&state_value=space+probe&state_mode=contains",
        "/sessions (state ever)": "/sessions?state_path=application.status"
        "&state_value=running&state_mode=ever",
        "/metrics": "/metrics",
        "/metrics (example: space probe peak memory)": EXAMPLE_SPACE_PROBE,
        "/metrics (example: running cpu)": EXAMPLE_RUNNING_CPU,
        "/metrics (memory_usage, all points, no filter)": "/metrics?name=memory_usage",
    }
    if listing:
        session_id = listing[0]["id"]
        targets["/sessions/{id}"] = f"/sessions/{session_id}"
        targets["/ui/sessions/{id}/live"] = f"/ui/sessions/{session_id}/live"
    targets.update(ISSUE_12)
    first = client.get("/api/events", params={"level": "warning"}).json()
    if first.get("next_cursor"):
        targets["/api/events (warning, page 2)"] = (
            f"/api/events?level=warning&cursor={first['next_cursor']}"
        )
    targets.update(_exception_targets(client))
    return targets


def _exception_targets(client: httpx.Client) -> dict[str, str]:
    found = client.get("/api/exceptions")
    if found.status_code != 200:
        print(f"skipped /api/exceptions rows: it answered {found.status_code}", file=sys.stderr)
        return {}
    targets = {
        "/api/exceptions": "/api/exceptions",
        "/api/exceptions (fatal, one version)": "/api/exceptions?fatal=true&version=2.0.0",
    }
    groups = found.json().get("items") or []
    if groups:
        targets["/api/exceptions/{fp}"] = f"/api/exceptions/{groups[0]['fingerprint']}"
    else:
        print("skipped /api/exceptions/{fp}: no exception groups", file=sys.stderr)
    page = client.get("/exceptions")
    if page.status_code == 200:
        targets["/exceptions"] = "/exceptions"
        if groups:
            targets["/exceptions/{fp}"] = f"/exceptions/{groups[0]['fingerprint']}"
    else:
        print(f"skipped /exceptions rows: it answered {page.status_code}", file=sys.stderr)
    return targets


def _target(label: str) -> tuple[str, str, float]:
    """(text, figure, limit): issue 12's rows are judged on p50, the older pages on p99."""
    if label in ISSUE_12 or "exceptions" in label or "page 2" in label:
        return f"p50 < {ISSUE_12_TARGET_MS:.0f} ms", "p50", ISSUE_12_TARGET_MS
    return f"p99 < {TARGET_MS:.0f} ms", "p99", TARGET_MS


def measure(
    url: str, requests: int, size: dict[str, Any], only: str | None = None
) -> list[dict[str, Any]]:
    """Time every page (``only``: those whose label contains it); ``size`` goes in each line."""
    lines = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for label, path in pages(client).items():
            if only is not None and only not in label:
                continue
            for _ in range(2):  # warm the page cache and the template cache
                client.get(path)
            server, wall = [], []
            for _ in range(requests):
                started = time.perf_counter()
                response = client.get(path)
                wall.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"{path} answered {response.status_code}")
                timing = response.headers.get("server-timing", "")
                server.append(float(timing.split("dur=")[1]) if "dur=" in timing else wall[-1])
            p50, p99 = _percentile(wall, 0.5), _percentile(wall, 0.99)
            target, figure, limit = _target(label)
            answered = _items_in(response)
            lines.append(
                {
                    "measure": "page_ms",
                    "page": label,
                    "path": path,
                    "p50": round(p50, 1),
                    "p99": round(p99, 1),
                    "server_p50": round(_percentile(server, 0.5), 1),
                    "server_p99": round(_percentile(server, 0.99), 1),
                    "server_mean": round(statistics.fmean(server), 1),
                    **size,
                    "cores": os.cpu_count(),
                    "requests": requests,
                    "target": target,
                    "met": (p50 if figure == "p50" else p99) < limit,
                    **({} if answered is None else {"items": answered}),
                }
            )
    return lines


def _items_in(response: httpx.Response) -> int | None:
    """How many items a JSON list answered (what the row's filter matched on that page)."""
    if not response.headers.get("content-type", "").startswith("application/json"):
        return None
    items = response.json().get("items")
    return len(items) if isinstance(items, list) else None


def _fresh(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pages", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--url", help="measure this running server as it is (no seeding)")
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument(
        "--events", type=int, help=f"events in all ({EVENTS_PER_SESSION} per session by default)"
    )
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page")
    parser.add_argument("--workdir", type=Path, help="where the scratch database goes")
    parser.add_argument(
        "--keep",
        type=Path,
        help="seed this database file once and measure it as is on later runs (before/after "
        "pairs on the same data)",
    )
    parser.add_argument("--only", help="measure only the rows whose label contains this")
    args = parser.parse_args(argv)
    if args.events is None:
        args.events = EVENTS_PER_SESSION * args.sessions

    size = {"sessions": args.sessions, "points": args.points, "events": args.events}
    seeded: dict[str, Any] = {}
    if args.url:
        lines = measure(args.url, args.requests, dict.fromkeys(size), args.only)
    elif args.keep:
        if not args.keep.exists():
            with serve(args.keep) as server:
                seeded = load(server.url, args.sessions, args.points, args.events)
        with serve(args.keep) as server:
            lines = measure(server.url, args.requests, size, args.only)
    else:
        with tempfile.TemporaryDirectory(prefix="datacat-pages-") as scratch:
            workdir = args.workdir or Path(scratch)
            workdir.mkdir(parents=True, exist_ok=True)
            db = workdir / "pages.db"
            _fresh(db)
            with serve(db) as server:
                seeded = load(server.url, args.sessions, args.points, args.events)
                lines = measure(server.url, args.requests, size, args.only)
    for line in lines:
        print(json.dumps({**line, **({"seed": seeded} if seeded else {})}), flush=True)
    # Measured everything: exit 0 even if a page missed its target. Judging is the
    # caller's job (``python -m bench`` prints yes/no per page from these figures); a
    # non-zero exit means the pages could not be measured at all.
    return 0


if __name__ == "__main__":
    sys.exit(main())
