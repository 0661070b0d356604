"""A real ``uvicorn datacat.app:app`` in a subprocess, and polling helpers for client tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from datacat_client import BatchConfig

SRC = Path(__file__).resolve().parents[2] / "src"
T = TypeVar("T")

# Short intervals so tests spend their time testing, generous deadlines for loaded machines.
FAST = BatchConfig(
    flush_interval=0.05,
    initial_backoff=0.05,
    max_backoff=0.5,
    close_timeout=30.0,
    read_flush_timeout=30.0,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """uvicorn on ``port`` with the SQLite file ``db``; stop and start it again at will."""

    def __init__(self, db: Path, port: int | None = None) -> None:
        self.db = db
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> ServerProcess:
        env = {
            **os.environ,
            "DATACAT_DATABASE_URL": f"sqlite+aiosqlite:///{self.db}",
            "DATACAT_SWEEP_INTERVAL_S": "0.2",
            "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        }
        command = [sys.executable, "-m", "uvicorn", "datacat.app:app", "--port", str(self.port)]
        self._process = subprocess.Popen(
            [*command, "--log-level", "warning"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                assert self._process.stderr is not None
                raise RuntimeError(f"server did not start: {self._process.stderr.read()!r}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGKILL: the server gets no chance to finish anything, as in a real crash."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        if process.stderr is not None:
            process.stderr.close()


def eventually(check: Callable[[], T | None], timeout: float = 20.0, every: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def stored_metrics(url: str, session_id: str) -> list[dict[str, Any]]:
    """Every stored metric of a session, through the paged endpoint."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 10_000}
        if cursor:
            params["cursor"] = cursor
        page = httpx.get(f"{url}/api/sessions/{session_id}/metrics", params=params, timeout=30)
        page.raise_for_status()
        body = page.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            return items
