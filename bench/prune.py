"""``python -m bench.prune``: ingest latency while ``datacat prune`` deletes a million events.

A prune must not stall ingest: it deletes in transactions of ``store.prune.BATCH_ROWS``
rows and pauses between them (README, "Retention and deletion"). This measures that on a
real server: it seeds ``--events`` events into ``--sessions`` sessions through the API,
backdates those sessions' last activity by 60 days (SQL, as the tests do), then drives
single-event POSTs into other, live sessions at a steady ``--rate`` — first for
``--baseline-s`` seconds with nothing else running, then for as long as
``datacat prune --older-than 30d`` (a separate process, as an operator runs it) takes.

Requests are sent on a fixed schedule whatever the answers do (open loop), and each
latency is counted from the request's scheduled time, so a stall shows in full rather
than merely slowing the sender. Prints one JSON line per phase and a summary table; exit
status 1 if any request failed or anything old survived the prune.

    python -m bench.prune --output bench/results/prune.jsonl     # 1,000,000 events, SQLite
    python -m bench.prune --database-url postgresql+asyncpg://postgres@127.0.0.1/prune
    python -m bench.prune --events 3000 --sessions 6 --settle-s 0.5 --baseline-s 1  # smoke

The README's figures are in ``bench/results/prune.jsonl``; tests/test_prune.py runs the
smoke line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select, update
from tests.support import datacat_server

from bench import seed
from bench.report import machine, revision
from bench.server import sqlite_url
from datacat.store.database import create_engine
from datacat.store.tables import events, sessions
from datacat.timefmt import now_us

DAY_US = 86_400 * 1_000_000
LIVE_SESSIONS = 20


@dataclass
class Phase:
    name: str
    seconds: float
    latencies_ms: list[float]
    errors: dict[str, int]

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms) or [0.0]

        def at(share: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 2)

        return {
            "phase": self.name,
            "seconds": round(self.seconds, 1),
            "requests": len(self.latencies_ms),
            "errors": sum(self.errors.values()),
            "error_kinds": self.errors,
            "p50_ms": at(0.50),
            "p99_ms": at(0.99),
            "max_ms": round(ordered[-1], 2),
            "mean_ms": round(statistics.fmean(ordered), 2),
        }


CONNECTIONS = 32
"""Keep-alive connections the driver sends over; a request waits for a free one, and
that wait counts in its latency."""


class _Connection:
    """HTTP/1.1 over one keep-alive socket, nothing more: httpx spent a third of a core on
    200 requests/s, and on a loaded 2-core machine the driver itself then fell behind."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def _drive(url: str, ids: list[str], rate: float, stop: Callable[[float], bool]) -> Phase:
    """Single-event POSTs at ``rate`` per second, round robin over ``ids``, until ``stop``."""
    target = httpx.URL(url)
    assert target.host and target.port
    body = orjson.dumps({"name": "user_action", "data": seed.EVENT_DATA})
    requests = [
        (
            f"POST /api/sessions/{session_id}/events HTTP/1.1\r\nHost: {target.host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for session_id in ids
    ]
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    loop = asyncio.get_running_loop()
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(CONNECTIONS):
        idle.put_nowait(await _Connection.open(target.host, target.port))

    async def one(request: bytes, scheduled: float) -> None:
        connection = await idle.get()
        try:
            status, answer = await connection.send(request)
            if status != 200:
                errors[f"{status} {answer[:100]!r}"] += 1
            idle.put_nowait(connection)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
            errors[type(exc).__name__] += 1
            connection.close()
            idle.put_nowait(await _Connection.open(target.host, target.port))
        latencies.append((loop.time() - scheduled) * 1000)

    started = loop.time()
    pending: set[asyncio.Task[None]] = set()
    sent = 0
    while not stop(loop.time() - started):
        scheduled = started + sent / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(requests[sent % len(requests)], scheduled))
        pending.add(task)
        task.add_done_callback(pending.discard)
        sent += 1
    seconds = loop.time() - started
    await asyncio.gather(*pending)
    while not idle.empty():
        idle.get_nowait().close()
    return Phase("", seconds, latencies, dict(errors))


def drive(url: str, ids: list[str], rate: float, stop: Callable[[float], bool]) -> Phase:
    return asyncio.run(_drive(url, ids, rate, stop))


async def _backdate(url: str, ids: list[str], age_days: float) -> None:
    engine = create_engine(url, pool_size=1)
    moved = now_us() - int(age_days * DAY_US)
    try:
        async with engine.begin() as conn:
            for start in range(0, len(ids), 500):
                await conn.execute(
                    update(sessions)
                    .where(sessions.c.id.in_(ids[start : start + 500]))
                    .values(updated_us=moved, last_seen_us=moved)
                )
    finally:
        await engine.dispose()


async def _left(url: str, ids: list[str]) -> dict[str, int]:
    """Old sessions still stored, and every event still stored."""
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            old = 0
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                old += int(
                    await conn.scalar(
                        select(func.count()).select_from(sessions).where(sessions.c.id.in_(chunk))
                    )
                    or 0
                )
            stored = int(await conn.scalar(select(func.count()).select_from(events)) or 0)
    finally:
        await engine.dispose()
    return {"old_sessions_left": old, "events_left": stored}


def measure(
    url: str,
    n_events: int,
    n_sessions: int,
    rate: float,
    baseline_s: float,
    settle_s: float,
    log: Path,
) -> dict[str, Any]:
    with datacat_server(url, log_path=log) as server:
        print(f"# seeding {n_events:,} events into {n_sessions:,} sessions", file=sys.stderr)
        old = seed.create_sessions(server.url, n_sessions)
        items = (seed.event_item(old[i % n_sessions]) for i in range(n_events))
        accepted, seed_s = seed.post_batches(server.url, list(seed.chunks(items)))
        if accepted != n_events:
            raise RuntimeError(f"{accepted:,} of {n_events:,} seeded events accepted")
        asyncio.run(_backdate(url, old, 60))
        live = seed.create_sessions(server.url, LIVE_SESSIONS)

        settle = drive(server.url, live, rate, lambda elapsed: elapsed >= settle_s)
        print(f"# baseline: {rate:g} events/s for {baseline_s:g} s", file=sys.stderr)
        baseline = drive(server.url, live, rate, lambda elapsed: elapsed >= baseline_s)
        baseline.name = "ingest without prune"

        print("# datacat prune --older-than 30d, ingest going on", file=sys.stderr)
        command = [sys.executable, "-m", "datacat.cli", "prune", "--older-than", "30d"]
        started = time.monotonic()
        prune = subprocess.Popen(
            [*command, "--database-url", url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        during = drive(server.url, live, rate, lambda _: prune.poll() is not None)
        during.name = "ingest during prune"
        out, err = prune.communicate()
        wall_s = time.monotonic() - started
        if prune.returncode != 0:
            raise RuntimeError(f"datacat prune failed ({prune.returncode}): {err[-2000:]}")
    reported = re.search(r" in ([0-9.]+) s", out)
    # The command prints tenths of a second: a toy-sized prune may report "in 0.0 s".
    prune_s = float(reported.group(1)) if reported else None
    left = asyncio.run(_left(url, old))
    return {
        "backend": "postgresql" if url.startswith("postgresql") else "sqlite",
        "events": n_events,
        "sessions": n_sessions,
        "seed_events_per_s": round(n_events / seed_s),
        "rate_per_s": rate,
        "prune_output": out.strip(),
        "prune_s": prune_s,
        "prune_wall_s": round(wall_s, 1),
        "events_deleted_per_s": round(n_events / prune_s) if prune_s else None,
        **left,
        "expected_events_left": sum(
            len(phase.latencies_ms) for phase in (settle, baseline, during)
        ),
        "phases": [baseline.summary(), during.summary()],
    }


def markdown(result: dict[str, Any]) -> str:
    rows = [
        "| ingest (single-event POSTs, "
        f"{result['rate_per_s']:g}/s) | requests | errors | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for phase in result["phases"]:
        rows.append(
            f"| {phase['phase']} | {phase['requests']:,} | {phase['errors']} | "
            f"{phase['p50_ms']} | {phase['p99_ms']} | {phase['max_ms']} |"
        )
    rows.append("")
    rate = result["events_deleted_per_s"]
    rate_text = "too fast to time" if rate is None else f"{rate:,} events/s"
    rows.append(
        f"{result['backend']}: prune of {result['events']:,} events in {result['sessions']:,} "
        f"sessions took {result['prune_s']} s ({rate_text}; "
        f"{result['prune_wall_s']} s with the command's start-up)."
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.prune", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=200.0, help="ingest requests per second")
    parser.add_argument("--baseline-s", type=float, default=15.0)
    parser.add_argument(
        "--settle-s", type=float, default=3.0, help="ingest after seeding, not measured"
    )
    parser.add_argument("--output", type=Path, help="append the JSON line to this file")
    parser.add_argument("--database-url", help="PostgreSQL (default: a new SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-prune-") as scratch:
        url = args.database_url or sqlite_url(Path(scratch) / "prune.db")
        result = measure(
            url,
            args.events,
            args.sessions,
            args.rate,
            args.baseline_s,
            args.settle_s,
            Path(scratch) / "log",
        )
    result.update({"machine": machine(), "revision": revision()})
    print(json.dumps(result), flush=True)
    if args.output is not None:
        with args.output.open("a") as out:
            out.write(json.dumps(result) + "\n")
    print(markdown(result), file=sys.stderr)
    failed = any(phase["errors"] for phase in result["phases"])
    intact = result["events_left"] == result["expected_events_left"]
    return 1 if failed or result["old_sessions_left"] or not intact else 0


if __name__ == "__main__":
    sys.exit(main())
