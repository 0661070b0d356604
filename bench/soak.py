"""``python -m bench.soak``: mixed traffic against one real server for a set time.

The other benchmarks drive one request path for seconds; a soak drives all of them at
once for minutes, to find what only time shows: a pool or cache that fills and then
fails, a background task that errs, latency that creeps, memory that keeps growing.
Several connections act like applications: each opens a session, writes state patches,
events, metrics, heartbeats and batches into it (and into recent ones), ends it after
``LIFETIME`` requests and opens the next, while reading the API and the web UI in between.
Every connection first makes one request of every kind, so even a run of seconds
exercises every endpoint.

    python -m bench.soak --minutes 5          # the README's figures (bench/results/soak.md)
    python -m bench.soak --seconds 5          # a smoke run (tests/bench/test_soak_quick.py)
    python -m bench.soak --minutes 5 --database-url postgresql+asyncpg://postgres@127.0.0.1/soak

It prints one JSON line per endpoint (requests, errors, p50/p99/max in ms) and a summary
line: requests, errors, the server's RSS sampled every second (``VmRSS`` of every server
process, from ``/proc``) and its growth after warm-up — the RSS at half the run against
the RSS at the end (and, for comparison, from 20 % of the run). An error is any answer
that is not 2xx/3xx, or a request that got no answer. Exit status 1 if any request
failed or any endpoint went unexercised. A run of five minutes or more writes
``bench/results/soak.md`` / ``soak.jsonl`` and copies the table into the README between
its ``soak-table`` markers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from tests.support import datacat_server

from bench.report import Contention, machine, number, revision
from bench.server import Server, sqlite_url

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
README = ROOT / "README.md"
BEGIN, END = "<!-- soak-table:begin -->", "<!-- soak-table:end -->"

LIFETIME = 100
"""Requests a connection makes on one session before ending it and opening the next: each
session stays small, so a read of one costs the same at minute five as at second one."""
RECENT = 500
"""Sessions kept for reads and batches (ended ones too: late writes are accepted)."""
WARM_UP_SHARE = 0.5
"""RSS growth is measured from this point of the run. Warm-up is until the bounded caches
are full: SQLite's page cache (8 MiB per pooled connection) and the chunk cache (32 MiB)
fill as the database grows, which took about two of five minutes here (RSS +3 MiB/min
early, flat after); the growth from ``EARLY_SHARE`` is reported beside it."""
EARLY_SHARE = 0.2
TARGET_GROWTH_PCT = 10.0
"""Issue 11's bound on RSS growth after warm-up."""
FULL_RUN_S = 300.0
"""Runs this long or longer write the results file and the README table."""

Action = Callable[["Connection"], Awaitable[None]]


@dataclass
class Endpoint:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    examples: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        return {
            "requests": len(ordered),
            "errors": self.errors,
            "p50_ms": round(_percentile(ordered, 0.50), 2) if ordered else None,
            "p99_ms": round(_percentile(ordered, 0.99), 2) if ordered else None,
            "max_ms": round(ordered[-1], 2) if ordered else None,
            **({"error_examples": self.examples} if self.examples else {}),
        }


def _percentile(ordered: list[float], share: float) -> float:
    """Nearest rank of an already sorted list."""
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _ago(seconds: float) -> str:
    moment = datetime.now(timezone.utc) - timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Failed(Exception):
    """A request answered with an error (already counted against its endpoint)."""


class Traffic:
    """What every connection shares: the HTTP client, the tally and the recent sessions."""

    def __init__(self, client: httpx.AsyncClient, deadline: float) -> None:
        self.client = client
        self.deadline = deadline
        self.endpoints: dict[str, Endpoint] = {label: Endpoint() for label in ENDPOINTS}
        self.recent: deque[str] = deque(maxlen=RECENT)

    async def call(self, label: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        tally = self.endpoints[label]
        started = time.perf_counter()
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            tally.latencies_ms.append((time.perf_counter() - started) * 1000)
            self._failed(tally, f"{type(exc).__name__}: {exc}")
            raise
        tally.latencies_ms.append((time.perf_counter() - started) * 1000)
        if response.status_code >= 400:
            self._failed(tally, f"{response.status_code} {response.text[:200]}")
            raise Failed(label)
        return response

    @staticmethod
    def _failed(tally: Endpoint, what: str) -> None:
        tally.errors += 1
        if len(tally.examples) < 3:
            tally.examples.append(what)


@dataclass
class Connection:
    """One simulated application: its own session, a random stream, a request count."""

    traffic: Traffic
    rng: random.Random
    session: str = ""
    made: int = 0

    def other(self) -> str:
        """A recent session of any connection (this one's own if none yet)."""
        recent = self.traffic.recent
        return recent[self.rng.randrange(len(recent))] if recent else self.session

    async def open(self) -> None:
        body = {"product": "soak", "version": "1.0", "host": f"host-{self.rng.randrange(8)}"}
        response = await self.traffic.call("POST /api/sessions", "POST", "/api/sessions", json=body)
        self.session = response.json()["session_id"]
        self.made = 0
        self.traffic.recent.append(self.session)

    async def end(self) -> None:
        """End this session; the next request opens another."""
        path = f"/api/sessions/{self.session}/end"
        await self.traffic.call("POST /api/sessions/{id}/end", "POST", path, json={})
        self.session = ""

    async def state(self) -> None:
        patch = {
            "phase": self.rng.choice(["load", "train", "eval"]),
            "progress": {"step": self.made, "loss": round(self.rng.random(), 4)},
        }
        path = f"/api/sessions/{self.session}/state"
        await self.traffic.call("POST /api/sessions/{id}/state", "POST", path, json=patch)

    async def event(self) -> None:
        body = {"name": self.rng.choice(["click", "save", "retry"]), "data": {"n": self.made}}
        path = f"/api/sessions/{self.session}/events"
        await self.traffic.call("POST /api/sessions/{id}/events", "POST", path, json=body)

    async def metric(self) -> None:
        body = {
            "name": self.rng.choice(["cpu", "memory"]),
            "value": self.rng.random() * 100,
            "tags": {"host": "a"},
        }
        path = f"/api/sessions/{self.session}/metrics"
        await self.traffic.call("POST /api/sessions/{id}/metrics", "POST", path, json=body)

    async def heartbeat(self) -> None:
        path = f"/api/sessions/{self.session}/heartbeat"
        await self.traffic.call("POST /api/sessions/{id}/heartbeat", "POST", path, json={})

    async def batch(self) -> None:
        """Fifty items like a batching client's flush: mostly its own session, some others."""
        items: list[dict[str, Any]] = []
        for i in range(50):
            session_id = self.session if i % 5 else self.other()
            kind = i % 3
            if kind == 0:
                items.append({"op": "event", "session_id": session_id, "name": "batched"})
            elif kind == 1:
                value = self.rng.random()
                items.append(
                    {"op": "metric", "session_id": session_id, "name": "loss", "value": value}
                )
            else:
                state = {"batched": {"last": i}}
                items.append({"op": "state", "session_id": session_id, "state": state})
        await self.traffic.call("POST /api/batch", "POST", "/api/batch", json={"items": items})

    async def get_session(self) -> None:
        path = f"/api/sessions/{self.other()}"
        await self.traffic.call("GET /api/sessions/{id}", "GET", path)

    async def list_sessions(self) -> None:
        params = {"limit": 50, "product": "soak"}
        await self.traffic.call("GET /api/sessions", "GET", "/api/sessions", params=params)

    async def list_events(self) -> None:
        path = f"/api/sessions/{self.other()}/events"
        await self.traffic.call("GET /api/sessions/{id}/events", "GET", path, params={"limit": 100})

    async def list_metrics(self) -> None:
        path = f"/api/sessions/{self.other()}/metrics"
        await self.traffic.call(
            "GET /api/sessions/{id}/metrics", "GET", path, params={"limit": 100}
        )

    async def state_history(self) -> None:
        path = f"/api/sessions/{self.other()}/state/history"
        await self.traffic.call("GET /api/sessions/{id}/state/history", "GET", path)

    async def metric_names(self) -> None:
        await self.traffic.call("GET /api/metrics/names", "GET", "/api/metrics/names")

    async def series(self) -> None:
        params = {"name": "cpu", "since": _ago(60), "limit": 1000}
        await self.traffic.call(
            "GET /api/metrics/series", "GET", "/api/metrics/series", params=params
        )

    async def export(self) -> None:
        params = {"since": _ago(60), "limit": 20}
        path = "/api/grafana/sessions"
        await self.traffic.call("GET /api/grafana/sessions", "GET", path, params=params)

    async def dashboard(self) -> None:
        await self.traffic.call("GET /", "GET", "/")

    async def dashboard_live(self) -> None:
        await self.traffic.call("GET /ui/dashboard", "GET", "/ui/dashboard")

    async def sessions_page(self) -> None:
        await self.traffic.call("GET /sessions", "GET", "/sessions")

    async def session_page(self) -> None:
        await self.traffic.call("GET /sessions/{id}", "GET", f"/sessions/{self.other()}")

    async def session_live(self) -> None:
        path = f"/ui/sessions/{self.other()}/live"
        await self.traffic.call("GET /ui/sessions/{id}/live", "GET", path)

    async def metrics_page(self) -> None:
        params = {"name": "cpu", "since": _ago(60)}
        await self.traffic.call("GET /metrics", "GET", "/metrics", params=params)


MIX: dict[str, tuple[int, Action]] = {
    # label: (weight among the random picks, what to send). Opening and ending a session
    # are not picked: each connection does them once per LIFETIME requests.
    "POST /api/sessions": (0, Connection.open),
    "POST /api/sessions/{id}/end": (0, Connection.end),
    "POST /api/sessions/{id}/state": (12, Connection.state),
    "POST /api/sessions/{id}/events": (20, Connection.event),
    "POST /api/sessions/{id}/metrics": (20, Connection.metric),
    "POST /api/sessions/{id}/heartbeat": (4, Connection.heartbeat),
    "POST /api/batch": (5, Connection.batch),
    "GET /api/sessions/{id}": (6, Connection.get_session),
    "GET /api/sessions": (3, Connection.list_sessions),
    "GET /api/sessions/{id}/events": (3, Connection.list_events),
    "GET /api/sessions/{id}/metrics": (2, Connection.list_metrics),
    "GET /api/sessions/{id}/state/history": (2, Connection.state_history),
    "GET /api/metrics/names": (1, Connection.metric_names),
    "GET /api/metrics/series": (2, Connection.series),
    "GET /api/grafana/sessions": (1, Connection.export),
    "GET /": (1, Connection.dashboard),
    "GET /ui/dashboard": (1, Connection.dashboard_live),
    "GET /sessions": (2, Connection.sessions_page),
    "GET /sessions/{id}": (2, Connection.session_page),
    "GET /ui/sessions/{id}/live": (2, Connection.session_live),
    "GET /metrics": (2, Connection.metrics_page),
}
ENDPOINTS = list(MIX)
PICKS = [label for label, (weight, _) in MIX.items() if weight]
WEIGHTS = [MIX[label][0] for label in PICKS]


async def _connection(traffic: Traffic, seed: int) -> None:
    """One application's requests until the deadline; a failed request is counted and the
    next one goes out (a soak measures failures, it does not stop at the first)."""
    conn = Connection(traffic, random.Random(seed))
    first_round = [*PICKS, "POST /api/sessions/{id}/end"]
    while time.monotonic() < traffic.deadline:
        try:
            if not conn.session:
                await conn.open()
            elif conn.made >= LIFETIME:
                await conn.end()
            else:
                pick = first_round.pop(0) if first_round else conn.rng.choices(PICKS, WEIGHTS)[0]
                conn.made += 1
                await MIX[pick][1](conn)
        except (Failed, httpx.HTTPError):
            await asyncio.sleep(0.1)


def _rss(server: Server, started: float) -> list[float]:
    """[seconds into the run, RSS, of which anonymous (heap)] in MiB."""
    anon = server.rss_parts_mb()["rss_anon_mb"]
    return [round(time.monotonic() - started, 1), round(server.rss_mb(), 1), anon]


async def _sample(server: Server, started: float, every_s: float, out: list[list[float]]) -> None:
    while True:
        out.append(_rss(server, started))
        await asyncio.sleep(every_s)


async def _drive(
    server: Server, seconds: float, connections: int, every_s: float
) -> tuple[Traffic, list[list[float]], float]:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    samples: list[list[float]] = []
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as client:
        started = time.monotonic()
        traffic = Traffic(client, started + seconds)
        sampler = asyncio.create_task(_sample(server, started, every_s, samples))
        await asyncio.gather(*(_connection(traffic, seed) for seed in range(connections)))
        wall = time.monotonic() - started
        sampler.cancel()
        samples.append(_rss(server, started))
    return traffic, samples, wall


@contextmanager
def _server(database_url: str | None, workdir: Path) -> Iterator[Server]:
    """A fresh ``datacat serve`` (on a new SQLite file unless a database URL is given),
    stopped as an operator would stop it."""
    db = workdir / "soak.db"
    url = database_url or sqlite_url(db)
    log_path = workdir / "soak-server.log"
    process = datacat_server(url, log_path=log_path)
    process.start(timeout=60)
    try:
        yield Server(process.url, process.pid, log_path, None if database_url else db)
    finally:
        process.stop(grace_s=15)


def soak(
    seconds: float, connections: int, database_url: str | None, every_s: float = 1.0
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run the traffic; return the endpoint lines and the summary line."""
    load = Contention()
    with (
        tempfile.TemporaryDirectory(prefix="datacat-soak-") as scratch,
        _server(database_url, Path(scratch)) as server,
    ):
        cpu_before = server.cpu_s()
        traffic, samples, wall = asyncio.run(_drive(server, seconds, connections, every_s))
        server_cpu = server.cpu_s() - cpu_before
        disk = sum(server.db_bytes().values()) / 2**20 if server.db_path else None
    lines = [
        {"kind": "soak_endpoint", "endpoint": label, **tally.figures()}
        for label, tally in traffic.endpoints.items()
    ]
    warm = next(s for s in samples if s[0] >= WARM_UP_SHARE * wall)
    early = next(s for s in samples if s[0] >= EARLY_SHARE * wall)
    end = samples[-1]
    requests = sum(line["requests"] for line in lines)
    errors = sum(line["errors"] for line in lines)
    growth = round(100 * (end[1] - warm[1]) / warm[1], 1)
    summary = {
        "kind": "soak",
        "seconds": round(wall, 1),
        "connections": connections,
        "backend": "postgresql" if database_url else "sqlite",
        "requests": requests,
        "req_per_s": round(requests / wall, 1),
        "errors": errors,
        "unexercised": [line["endpoint"] for line in lines if not line["requests"]],
        "rss_warm_mb": warm[1],
        "rss_early_mb": early[1],
        "rss_growth_from_early_pct": round(100 * (end[1] - early[1]) / early[1], 1),
        "rss_end_mb": end[1],
        "rss_peak_mb": max(s[1] for s in samples),
        "rss_growth_pct": growth,
        "rss_anon_warm_mb": warm[2],
        "rss_anon_end_mb": end[2],
        "target": f"0 errors; RSS growth < {TARGET_GROWTH_PCT:.0f} % after warm-up",
        "met": errors == 0 and growth < TARGET_GROWTH_PCT,
        "database_mb": round(disk, 1) if disk is not None else None,
        "server_cpu_pct": round(100 * server_cpu / wall, 1),
        **load.figures(),
        **machine(),
        "datacat": revision(),
        "rss_samples": samples,
    }
    return lines, summary


def markdown(lines: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    s = summary
    head = (
        f"**Soak:** {s['seconds']:.0f} s, {s['connections']} connections, {s['backend']}, "
        f"one `datacat serve` process; {s['cpu']}, {s['cores']} cores; datacat "
        f"{s['datacat']}; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. "
        f"The load generator (`bench/soak.py`, Python) shares the cores with the server; "
        f"other processes took {s['other_cpu_pct']:.0f} % of a core meanwhile.\n\n"
        f"{s['requests']:,} requests ({number(s['req_per_s'])} req/s), "
        f"**{s['errors']} errors**. Server RSS {number(s['rss_warm_mb'])} MiB at "
        f"{WARM_UP_SHARE:.0%} of the run, {number(s['rss_end_mb'])} MiB at the end: "
        f"**{s['rss_growth_pct']:+.1f} %** (peak {number(s['rss_peak_mb'])} MiB; heap "
        f"{number(s['rss_anon_warm_mb'])} → {number(s['rss_anon_end_mb'])} MiB; "
        f"{s['rss_growth_from_early_pct']:+.1f} % from {number(s['rss_early_mb'])} MiB at "
        f"{EARLY_SHARE:.0%}, while the caches fill)"
        + (f"; database + WAL {number(s['database_mb'])} MiB" if s["database_mb"] else "")
        + f"; server CPU {s['server_cpu_pct']:.0f} % of one core. "
        f"Target ({s['target']}): **{'met' if s['met'] else 'not met'}**.\n"
    )
    rows = [
        "| endpoint | requests | errors | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    for line in lines:
        cells = [f"`{line['endpoint']}`", f"{line['requests']:,}", str(line["errors"])]
        cells += [
            number(line[k]) if line[k] is not None else "—" for k in ("p50_ms", "p99_ms", "max_ms")
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return head + "\n" + "\n".join(rows) + "\n"


def copy_into_readme(table: str) -> None:
    """The README's soak figures are the last full run's, never typed by hand."""
    text = README.read_text()
    if BEGIN not in text or END not in text:
        print("# README has no soak-table markers; not copied", file=sys.stderr)
        return
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{BEGIN}\n{table.strip()}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, help="how long to run (default 5)")
    length.add_argument("--seconds", type=float, help="how long to run, in seconds")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--database-url", help="PostgreSQL (default: a new SQLite file)")
    parser.add_argument("--output", type=Path, help="Markdown file (and .jsonl beside it)")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else 60 * (args.minutes or 5)
    output = args.output or (RESULTS / "soak.md" if seconds >= FULL_RUN_S else None)

    print(f"# soak: {seconds:.0f} s, {args.connections} connections", file=sys.stderr, flush=True)
    lines, summary = soak(seconds, args.connections, args.database_url)
    for line in [*lines, summary]:
        print(json.dumps(line), flush=True)
    table = markdown(lines, summary)
    print(table, file=sys.stderr)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(table)
        output.with_suffix(".jsonl").write_text(
            "".join(json.dumps(line) + "\n" for line in [*lines, summary])
        )
        if output == RESULTS / "soak.md":
            copy_into_readme(table)
    return 1 if summary["errors"] or summary["unexercised"] else 0


if __name__ == "__main__":
    sys.exit(main())
