"""Start a real ``datacat serve`` process and read its footprint from ``/proc``.

The benchmarks start the server themselves (rather than hitting one already running) so
they know its pid: peak RSS is the kernel's ``VmHWM`` of that process, and CPU time comes
from ``/proc/<pid>/stat``. With ``--workers N`` uvicorn forks children, so every figure
sums the whole process tree.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A port nobody listens on now; the server binds it a moment later."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@dataclass
class Server:
    """A running server: its URL, pid and database file."""

    url: str
    pid: int
    db_path: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def rss_mb(self) -> float:
        """Resident memory now, summed over the process tree."""
        return sum(_status_kb(p, "VmRSS") for p in process_tree(self.pid)) / 1024

    def rss_parts_mb(self) -> dict[str, float]:
        """RSS split into anonymous (heap), file-backed (SQLite's mmap) and shared pages.

        SQLite's ``mmap_size`` maps the database file, and every page read through the map
        counts as the server's RSS (``RssFile``) although the kernel can drop it at will;
        only ``RssAnon`` is memory the server really holds.
        """
        parts = {}
        for field in ("RssAnon", "RssFile", "RssShmem"):
            total = sum(_status_kb(p, field) for p in process_tree(self.pid))
            parts[field.replace("Rss", "rss_").lower() + "_mb"] = round(total / 1024, 1)
        return parts

    def peak_rss_mb(self) -> float:
        """Peak resident memory since start (``VmHWM``), summed over the process tree."""
        return sum(_status_kb(p, "VmHWM") for p in process_tree(self.pid)) / 1024

    def cpu_s(self) -> float:
        """User + system CPU seconds used so far by the whole process tree."""
        return sum(_cpu_s(p) for p in process_tree(self.pid))

    def db_bytes(self) -> dict[str, int]:
        """Sizes of the SQLite file and its WAL (what an operator's disk holds)."""
        sizes = {}
        for suffix in ("", "-wal", "-shm"):
            path = Path(str(self.db_path) + suffix)
            sizes["db" + suffix.replace("-", "_")] = path.stat().st_size if path.exists() else 0
        return sizes


def sqlite_url(db_path: Path) -> str:
    return f"sqlite+aiosqlite:///{db_path}"


@contextmanager
def serve(db_path: Path, workers: int = 1, startup_s: float = 60.0) -> Iterator[Server]:
    """Run ``datacat serve`` on ``db_path`` until the block ends, then stop it cleanly."""
    port = free_port()
    log_path = db_path.with_suffix(".log")
    log = log_path.open("ab")
    command = [
        sys.executable,
        "-m",
        "datacat.cli",
        "serve",
        "--port",
        str(port),
        "--database-url",
        sqlite_url(db_path),
        "--workers",
        str(workers),
    ]
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start; see {log_path}")
            time.sleep(0.05)
        yield Server(url, process.pid, db_path, process, log_path)
    finally:
        _stop(process)
        log.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
