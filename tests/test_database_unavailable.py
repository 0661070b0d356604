"""A full disk and a locked database, for real: 503 with Retry-After, never a 500, never half.

Full: the database lives on a size-limited tmpfs (SQLite: the file, its WAL and lock;
PostgreSQL: a tablespace holding every datacat table), and several connections write
single events, metrics, state patches and batches into it until the answers turn 503.
Every write acknowledged with a 2xx must then be readable, exactly once; every write
answered 503 must have left nothing (a batch is all or nothing); and once the filesystem
grows, the same server takes writes again.

Locked: another process holds SQLite's write lock (``BEGIN EXCLUSIVE``; it knows nothing of
datacat's own lock file) for longer than the busy timeout. Writes answer 503 with
Retry-After in time for a client to hear it, reads go on, and once the lock is released
writes are accepted again; nothing refused was stored.

Mounting needs root (CAP_SYS_ADMIN), as in this project's CI; the PostgreSQL case also
needs the suite's PostgreSQL on this machine, since its tablespace is a local directory.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import pwd
import secrets
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from support import PG_ADMIN_URL, datacat_server, eventually, throwaway_database
from support.sqlitelock import foreign_write_lock

WRITERS = 4
PADDING = 1500  # bytes of random hex per event: the disk fills in a few hundred writes
REFUSALS_WANTED = 24  # 503s seen in all before the writers stop
SWEEP_INTERVAL_S = 2  # the locked server's sweeper runs (and meets the lock) meanwhile


@contextmanager
def tiny_filesystem(path: Path, size: str, owner: str | None = None) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``path`` (owned by user ``owner``), unmounted afterwards."""
    path.mkdir()
    options = f"size={size}"
    if owner is not None:
        user = pwd.getpwnam(owner)
        options += f",uid={user.pw_uid},gid={user.pw_gid},mode=0700"
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    assert mounted.returncode == 0, f"cannot mount a tmpfs (root needed): {mounted.stderr}"
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def grow(path: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


def admin(sql: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run())


@contextmanager
def database_on(backend: str, folder: Path) -> Iterator[tuple[str, Path]]:
    """A database whose data lives on a 2-3 MB tmpfs: its URL and the mount point."""
    if backend == "sqlite":
        with tiny_filesystem(folder / "disk", "2m") as disk:
            yield f"sqlite+aiosqlite:///{disk / 'full.db'}", disk
        return
    tablespace = f"datacat_full_{secrets.token_hex(4)}"
    # PostgreSQL's own user must reach the directory: not under pytest's private tmp_path.
    with (
        tempfile.TemporaryDirectory(prefix="datacat-full-") as parent,
        tiny_filesystem(Path(parent) / "disk", "3m", owner="postgres") as disk,
    ):
        os.chmod(parent, 0o755)
        admin(f"CREATE TABLESPACE {tablespace} LOCATION '{disk}'")
        try:
            with throwaway_database("datacat_full") as url:
                # The catalogs stay on the main disk; datacat's tables (created when the
                # server migrates) and their indexes go to the tiny one.
                name = url.rsplit("/", 1)[1]
                admin(f'ALTER DATABASE "{name}" SET default_tablespace = {tablespace}')
                yield url, disk
        finally:
            admin(f"DROP TABLESPACE IF EXISTS {tablespace}")


@dataclass
class Sent:
    """One request and what it carried, by the names that identify each item."""

    status: int
    events: list[str] = field(default_factory=list)
    metrics: list[float] = field(default_factory=list)
    patches: list[str] = field(default_factory=list)
    retry_after: str | None = None
    detail: Any = None


@dataclass
class Traffic:
    url: str
    sessions: list[str]
    sent: list[Sent] = field(default_factory=list)
    refusals: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, sent: Sent) -> None:
        with self.lock:
            self.sent.append(sent)
            self.refusals += sent.status != 200


def write_until_full(traffic: Traffic, writer: int, deadline: float) -> None:
    """Send singles and batches, in turn, until enough 503s are seen (or time runs out)."""
    session_id = traffic.sessions[writer]
    base = f"{traffic.url}/api/sessions/{session_id}"
    with httpx.Client(timeout=60) as http:
        for seq in itertools.count():
            if traffic.refusals >= REFUSALS_WANTED or time.monotonic() > deadline:
                return
            tag = f"w{writer}-{seq}"
            padding = secrets.token_hex(PADDING // 2)
            value = float(writer * 1_000_000 + seq)
            kind = seq % 4
            if kind == 0:
                sent = Sent(0, events=[tag])
                answer = http.post(f"{base}/events", json={"name": tag, "data": padding})
            elif kind == 1:
                sent = Sent(0, metrics=[value])
                answer = http.post(f"{base}/metrics", json={"name": "m", "value": value})
            elif kind == 2:
                sent = Sent(0, patches=[tag])
                answer = http.post(f"{base}/state", json={tag: padding[:200]})
            else:
                events = [f"{tag}-{i}" for i in range(4)]
                metrics = [value + i / 10 for i in range(1, 4)]
                items = [
                    *(
                        {"op": "event", "session_id": session_id, "name": n, "data": padding}
                        for n in events
                    ),
                    *(
                        {"op": "metric", "session_id": session_id, "name": "m", "value": v}
                        for v in metrics
                    ),
                    {"op": "state", "session_id": session_id, "state": {tag: 1}},
                ]
                sent = Sent(0, events=events, metrics=metrics, patches=[tag])
                answer = http.post(f"{traffic.url}/api/batch", json={"items": items})
            sent.status = answer.status_code
            if answer.status_code != 200:
                sent.retry_after = answer.headers.get("retry-after")
                sent.detail = answer.json().get("detail")
            traffic.record(sent)


def stored(url: str, session_id: str) -> tuple[Counter[str], Counter[float], Counter[str]]:
    """Event names, metric values and state-patch keys stored for a session, with counts."""
    with httpx.Client(base_url=f"{url}/api/sessions/{session_id}", timeout=60) as http:
        events = http.get("/events", params={"limit": 10_000}).json()
        metrics = http.get("/metrics", params={"limit": 10_000}).json()
        history = http.get("/state/history", params={"limit": 10_000}).json()
    assert not (events["next_cursor"] or metrics["next_cursor"] or history["next_cursor"])
    return (
        Counter(e["name"] for e in events["items"]),
        Counter(m["value"] for m in metrics["items"]),
        Counter(key for p in history["items"] for key in p["patch"]),
    )


def test_a_full_disk_is_503_and_nothing_acknowledged_is_lost(backend: str, tmp_path: Path) -> None:
    with database_on(backend, tmp_path) as (database_url, disk):
        log_path = tmp_path / "server.log"
        with datacat_server(database_url, log_path=log_path) as server:
            sessions = [
                httpx.post(f"{server.url}/api/sessions").json()["session_id"]
                for _ in range(WRITERS)
            ]
            traffic = Traffic(server.url, sessions)
            deadline = time.monotonic() + 120
            with ThreadPoolExecutor(WRITERS) as pool:
                for done in [
                    pool.submit(write_until_full, traffic, w, deadline) for w in range(WRITERS)
                ]:
                    done.result()

            statuses = Counter(s.status for s in traffic.sent)
            assert set(statuses) <= {200, 503}, (statuses, log_path.read_text()[-3000:])
            assert statuses[503] >= REFUSALS_WANTED, f"the disk never filled: {statuses}"
            assert statuses[200] > 50, statuses
            for refused in (s for s in traffic.sent if s.status == 503):
                assert refused.retry_after is not None and int(refused.retry_after) >= 1
                assert "unavailable" in refused.detail

            # Every acknowledged item is stored once; nothing of a refused request is.
            events: Counter[str] = Counter()
            metrics: Counter[float] = Counter()
            patches: Counter[str] = Counter()
            for session_id in sessions:
                found = stored(server.url, session_id)
                events += found[0]
                metrics += found[1]
                patches += found[2]
            for sent in traffic.sent:
                expected = 1 if sent.status == 200 else 0
                assert all(events[name] == expected for name in sent.events), sent
                assert all(metrics[value] == expected for value in sent.metrics), sent
                assert all(patches[key] == expected for key in sent.patches), sent

            # Room again: the same server takes writes (a 503 said "retry", and it works).
            grow(disk, "64m")
            target = f"{server.url}/api/sessions/{sessions[0]}/events"
            eventually(lambda: httpx.post(target, json={"name": "after"}).status_code == 200)
            assert stored(server.url, sessions[0])[0]["after"] == 1
        assert "unhandled error" not in log_path.read_text()


def test_a_locked_database_is_503_then_recovers(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    env = {"DATACAT_SWEEP_INTERVAL_S": str(SWEEP_INTERVAL_S)}
    with datacat_server(f"sqlite+aiosqlite:///{path}", env=env) as server:
        url = server.url
        session_id = httpx.post(f"{url}/api/sessions").json()["session_id"]
        base = f"{url}/api/sessions/{session_id}"
        assert httpx.post(f"{base}/events", json={"name": "before"}).status_code == 200

        writes = [
            ("POST", f"{base}/events", {"name": "refused-event"}),
            ("POST", f"{base}/metrics", {"name": "refused", "value": 1}),
            ("POST", f"{base}/state", {"refused": True}),
            (
                "POST",
                f"{url}/api/batch",
                {"items": [{"op": "event", "session_id": session_id, "name": "refused-batch"}]},
            ),
            ("POST", f"{url}/api/sessions", {"product": "refused-product"}),
        ]

        def send(write: tuple[str, str, dict[str, Any]]) -> httpx.Response:
            # Within a client's patience (the Python client waits 10 s): a 503 it can act
            # on, not a timeout.
            method, target, body = write
            return httpx.request(method, target, json=body, timeout=12)

        with foreign_write_lock(path):
            # Two waves, the second after a sweep (which waits for the lock too): the lock
            # is held for well over the busy timeout, and every write is told to retry.
            for wave in range(2):
                with ThreadPoolExecutor(len(writes)) as pool:
                    answers = list(pool.map(send, writes))
                for answer in answers:
                    assert answer.status_code == 503, (wave, answer.text)
                    assert int(answer.headers["retry-after"]) >= 1
                    assert "unavailable" in answer.json()["detail"]
                # Reads go on beside the lock (WAL).
                read = httpx.get(base, timeout=12)
                assert read.status_code == 200
                assert [e["name"] for e in read.json()["events"]] == ["before"]
                time.sleep(SWEEP_INTERVAL_S)

        after = eventually(
            lambda: (
                httpx.post(f"{base}/events", json={"name": "after"}, timeout=12).status_code == 200
            )
        )
        assert after
        body = httpx.get(base).json()
        assert [e["name"] for e in body["events"]] == ["before", "after"]
        assert body["metrics"] == [] and body["state"] == {}
        listed = httpx.get(f"{url}/api/sessions", params={"product": "refused-product"})
        assert listed.json()["items"] == []
