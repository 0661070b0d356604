"""What one ingest request costs datacat in CPU: the ASGI app called directly, no server.

wrk's figures include uvicorn, the kernel and whatever else runs on the machine. Here the
app, its lifespan and group-commit writer on a fresh SQLite file, is driven by
``CONNECTIONS`` concurrent tasks in this process with ``bench.single_post``'s bodies (and
``bench.batch_ingest``'s batch), and the figure is the process's CPU time per request
(``time.process_time``, every thread), which another busy core barely moves; best of
``--rounds``, each on a fresh file. Another commit is measured by putting its sources
first (the first line printed says which ``datacat`` ran)::

    git worktree add /tmp/before 8f7aad6
    PYTHONPATH=/tmp/before/src python -m bench.inprocess --only event_post,metric_post
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

import datacat
from bench import seed, single_post
from bench.batch_ingest import BATCH
from bench.single_post import CONNECTIONS, SESSIONS
from datacat.app import create_app
from datacat.settings import Settings

App = Callable[..., Any]
Request = Callable[[int], tuple[str, bytes]]
"""The n-th request of a run as (path, body); every one is a POST."""


async def call(app: App, path: str, body: bytes) -> tuple[int, bytes]:
    """One request as uvicorn would present it; the answer's status and body."""
    headers = [(b"host", b"127.0.0.1:8080")]
    if body:  # as wrk sends it; a bodyless POST (session create) has neither header
        headers += [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    received = False
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:  # the client stays connected until it has read the answer
            await asyncio.Event().wait()
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def requests(op: str, ids: list[str]) -> Request:
    def per_session(kind: str, body: bytes) -> Request:
        return lambda n: (f"/api/sessions/{ids[n % len(ids)]}/{kind}", body)

    if op == "session_create":
        return lambda n: ("/api/sessions", b"")
    if op == "state_update":
        return lambda n: (
            f"/api/sessions/{ids[n % len(ids)]}/state",
            f'{single_post.STATE_HEAD}"step":{n}{single_post.STATE_TAIL}'.encode(),
        )
    if op == "event_post":
        return per_session("events", orjson.dumps(single_post.EVENT_BODY))
    if op == "metric_post":
        return per_session("metrics", orjson.dumps(single_post.METRIC_BODY))
    if op == "batch":
        items = [seed.event_item(ids[i % len(ids)]) for i in range(BATCH)]
        body = orjson.dumps({"items": items})
        return lambda n: ("/api/batch", body)
    raise SystemExit(f"unknown op {op!r}; one of {', '.join(OPS)}")


OPS = ("session_create", "state_update", "event_post", "metric_post", "batch")


async def run(app: App, request: Request, per_task: int, tasks: int) -> tuple[float, float]:
    """CPU µs per request and requests per second of ``tasks`` x ``per_task`` requests."""
    counter = itertools.count()

    async def client() -> None:
        for _ in range(per_task):
            status, answer = await call(app, *request(next(counter)))
            if status != 200:
                raise RuntimeError(f"{status}: {answer[:200]!r}")

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(client() for _ in range(tasks)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    total = per_task * tasks
    return cpu / total * 1e6, total / wall


async def measure(op: str, per_task: int) -> tuple[float, float]:
    """One round: a fresh app on a fresh file (a growing database costs every op more, so
    rounds and ops must not inherit each other's rows), its sessions, a warm-up, the run."""
    with tempfile.TemporaryDirectory(prefix="datacat-inprocess-") as scratch:
        url = f"sqlite+aiosqlite:///{Path(scratch) / 'bench.db'}"
        app = create_app(Settings(database_url=url))
        async with app.router.lifespan_context(app):
            created = [await call(app, "/api/sessions", b"") for _ in range(SESSIONS)]
            request = requests(op, [orjson.loads(answer)["session_id"] for _, answer in created])
            # A batch is 500 events: fewer of them, from 4 clients as in batch_ingest.
            n, tasks = (max(1, per_task // 50), 4) if op == "batch" else (per_task, CONNECTIONS)
            await run(app, request, max(1, n // 10), tasks)  # the writer and caches warm
            return await run(app, request, n, tasks)


async def main(ops: list[str], per_task: int, rounds: int) -> None:
    print(f"# datacat from {Path(datacat.__file__).parent}", flush=True)
    for op in ops:
        figures = [await measure(op, per_task) for _ in range(rounds)]
        cpu_us = min(cpu for cpu, _ in figures)
        rate = max(rate for _, rate in figures)
        line = {"op": op, "cpu_us": round(cpu_us, 2), "req_per_s": round(rate)}
        print(orjson.dumps(line).decode(), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(OPS[:4]), help=f"comma-separated: {OPS}")
    parser.add_argument("--per-task", type=int, default=200, help="requests per client task")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.only.split(","), args.per_task, args.rounds))
