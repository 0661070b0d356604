"""Start real server processes (datacat, or a reference app) and read them from ``/proc``.

The benchmarks start every server themselves rather than hitting one already running, so
they know its pid: peak RSS is the kernel's ``VmHWM``, CPU time comes from
``/proc/<pid>/stat``. With ``--workers N`` uvicorn forks children, so every figure sums
the whole process tree — the supervisor and any helper process included, because an
operator pays for all of them.

Starting and stopping are the test suite's (``tests/support``), so a benchmark and a test
start a server the same way; only the measuring lives here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support import ServerProcess, datacat_server, free_port

_TICKS = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[1]


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 (ppid) follows the parenthesised command, which may hold spaces.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (uvicorn workers, if any)."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(_children(current))
    return tree


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime are fields 14 and 15 (1-based) of the whole line; all threads count.
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@dataclass
class Server:
    """A running server: its URL, pid, log and (for datacat) database file."""

    url: str
    pid: int
    log_path: Path
    db_path: Path | None = None

    def rss_mb(self) -> float:
        """Resident memory now, summed over the process tree."""
        return sum(_status_kb(p, "VmRSS") for p in process_tree(self.pid)) / 1024

    def rss_parts_mb(self) -> dict[str, float]:
        """RSS split into anonymous (heap), file-backed and shared pages.

        A memory-mapped database file counts as RSS (``RssFile``) although the kernel can
        drop those pages at will; ``RssAnon`` is what the server really holds.
        """
        parts = {}
        for field in ("RssAnon", "RssFile", "RssShmem"):
            total = sum(_status_kb(p, field) for p in process_tree(self.pid))
            parts[field.replace("Rss", "rss_").lower() + "_mb"] = round(total / 1024, 1)
        return parts

    def peak_rss_mb(self) -> float:
        """Peak resident memory since start (``VmHWM``), summed over the process tree.

        With several processes this is the sum of each one's own peak: an upper bound of
        what they held at one moment, which is the safe side for a memory limit.
        """
        return sum(_status_kb(p, "VmHWM") for p in process_tree(self.pid)) / 1024

    def cpu_s(self) -> float:
        """User + system CPU seconds used so far by the whole process tree."""
        return sum(_cpu_s(p) for p in process_tree(self.pid))

    def processes(self) -> int:
        return len(process_tree(self.pid))

    def workers(self) -> int:
        """How many worker processes serve requests (uvicorn spawns them when N > 1).

        Read from the process tree rather than from the flag, so that a run which leaves
        ``--workers`` to the server's default still knows what it measured.
        """
        spawned = [p for p in process_tree(self.pid) if "spawn_main" in _cmdline(p)]
        return max(1, len(spawned))

    def db_bytes(self) -> dict[str, int]:
        """Sizes of the SQLite file and its WAL (what an operator's disk holds)."""
        sizes = {}
        assert self.db_path is not None
        for suffix in ("", "-wal", "-shm"):
            path = Path(str(self.db_path) + suffix)
            sizes["db" + suffix.replace("-", "_")] = path.stat().st_size if path.exists() else 0
        return sizes


def sqlite_url(db_path: Path) -> str:
    return f"sqlite+aiosqlite:///{db_path}"


@contextmanager
def _running(
    process: ServerProcess, log_path: Path, db_path: Path | None = None
) -> Iterator[Server]:
    """The started server, stopped as an operator would (SIGTERM, SIGKILL after 15 s)."""
    process.start(timeout=60)
    try:
        yield Server(process.url, process.pid, log_path, db_path)
    finally:
        process.stop(grace_s=15)


@contextmanager
def serve(db_path: Path, workers: int | None = None) -> Iterator[Server]:
    """Run ``datacat serve`` on ``db_path`` until the block ends, then stop it cleanly.

    ``workers=None`` leaves ``--workers`` out, so the server's own default is measured.
    """
    args = [] if workers is None else ["--workers", str(workers)]
    log_path = db_path.with_suffix(".log")
    process = datacat_server(sqlite_url(db_path), *args, log_path=log_path)
    with _running(process, log_path, db_path) as server:
        yield server


REFERENCE_APPS = {"asgi": "bench.reference:asgi_app", "fastapi": "bench.reference:fastapi_app"}


@contextmanager
def serve_reference(
    app: str, workers: int, log_path: Path, get_body: Path | None = None
) -> Iterator[Server]:
    """Run a reference app (``bench/reference.py``) under plain ``uvicorn``.

    Only the worker count is set (and the access log turned off, as ``datacat serve``
    does); everything else is uvicorn's default, so the reference is what anyone gets
    from ``uvicorn app:app`` on this machine.
    """
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        REFERENCE_APPS[app],
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    env = {"BENCH_REFERENCE_GET_BODY": str(get_body)} if get_body else {}
    process = ServerProcess(command, port=port, env=env, log_path=log_path, cwd=ROOT)
    with _running(process, log_path) as server:
        yield server
