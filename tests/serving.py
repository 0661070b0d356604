"""Start a real ``datacat serve`` process for a test and stop it afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

# The PostgreSQL the suite creates its throwaway databases on (DATACAT_TEST_PG_URL overrides).
PG_ADMIN_URL = os.environ.get(
    "DATACAT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def pg_database_url(name: str) -> str:
    """The SQLAlchemy (asyncpg) URL of database ``name`` on the suite's PostgreSQL."""
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(database_url: str, *extra: str, env: dict[str, str] | None = None) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "DATACAT_DATABASE_URL": database_url, **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "datacat.cli", "serve", "--port", str(port), *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {process.stderr.read().decode()}")
            time.sleep(0.1)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        process.stderr.close()
