"""Real server processes for tests and benchmarks: start, crash on purpose, start again.

A server runs in its own session (process group), so killing it also kills the worker
processes ``--workers N`` forks. Its output goes to a log file rather than a pipe: a pipe
nobody reads fills up and then blocks the server mid-test, and a file can still be quoted
when the server fails to start.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx


def free_port() -> int:
    """A port nobody listens on now; the server binds it a moment later."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """One HTTP server subprocess on a fixed port, ready once ``ready_path`` answers 200.

    ``stop()`` is a SIGKILL by default — no chance to flush or close anything, as in a real
    crash — and ``start()`` again runs the same command on the same port and data.
    ``stop(grace_s=...)`` asks politely first, for callers that measure a clean shutdown.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        port: int,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        cwd: Path | None = None,
        ready_path: str = "/readyz",
    ) -> None:
        self.command = list(command)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = dict(env or {})
        self.log_path = log_path
        self.cwd = cwd
        self.ready_path = ready_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the server is not running")
        return self._process.pid

    def start(self, timeout: float = 60.0) -> ServerProcess:
        """Start the server and return once it answers; fail with its log if it never does."""
        if self._process is not None:
            raise RuntimeError("the server is already running")
        log = self.log_path.open("a+b") if self.log_path else tempfile.TemporaryFile()
        self._log = log
        self._process = subprocess.Popen(
            self.command,
            env={**os.environ, **self.env},
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.url + self.ready_path, timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                output = self._output()
                self.stop()
                raise RuntimeError(f"server did not start: {' '.join(self.command)}\n{output}")
            time.sleep(0.05)

    def stop(self, grace_s: float = 0.0) -> None:
        """Kill the server's process group; with ``grace_s``, SIGTERM it first and wait."""
        process, self._process = self._process, None
        if process is not None:
            if grace_s > 0 and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                with suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=grace_s)
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _output(self, limit: int = 4000) -> str:
        assert self._log is not None
        self._log.flush()
        self._log.seek(0)
        text = self._log.read().decode(errors="replace")
        where = f" (log: {self.log_path})" if self.log_path else ""
        return f"last output{where}:\n{text[-limit:]}"

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def datacat_server(
    database_url: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
) -> ServerProcess:
    """``datacat serve`` on ``database_url`` (a SQLite file or PostgreSQL), not started yet.

    ``args`` go to ``datacat serve`` (``--workers 2``); ``env`` adds ``DATACAT_*`` settings.
    """
    port = free_port()
    command = [sys.executable, "-m", "datacat.cli", "serve", "--port", str(port), *args]
    env = {"DATACAT_DATABASE_URL": database_url, **(env or {})}
    return ServerProcess(command, port=port, env=env, log_path=log_path)


@contextmanager
def serve(database_url: str, *args: str, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """A running ``datacat serve`` for the block's duration: yields its URL, then kills it."""
    with datacat_server(database_url, *args, env=env) as server:
        yield server.url
