"""A key-protected server for the clients' tests, and a proxy that counts what reaches it.

The clients' promise about keys is partly about requests *not* sent (a 401/403 is not
retried, a refused batch is not followed by more), which only the server side can see:
``CountingProxy`` sits between a client and the real server and records every request
(method, path, the status answered, the ``Authorization`` header it carried).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .auth import create_key, datacat_cli
from .server import datacat_server

SCOPES = ("ingest", "read", "admin")


@dataclass(frozen=True)
class KeyedServer:
    """A running server with one key per scope, plus a revoked key and one never issued."""

    url: str
    database_url: str
    keys: dict[str, str]
    revoked: str
    unknown: str = "dc_" + "x" * 43


@contextmanager
def keyed_server(directory: Path, env: dict[str, str] | None = None) -> Iterator[KeyedServer]:
    """``datacat serve`` on a fresh SQLite file whose keys were made by ``datacat keys``."""
    database_url = f"sqlite+aiosqlite:///{directory / 'keyed.db'}"
    keys = {scope: create_key(database_url, scope, name=f"test-{scope}") for scope in SCOPES}
    revoked = create_key(database_url, "admin", name="test-revoked")
    done = datacat_cli(database_url, "keys", "revoke", "test-revoked")
    assert done.returncode == 0, done.stderr
    with datacat_server(database_url, env=env) as server:
        yield KeyedServer(server.url, database_url, keys, revoked)


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    status: int
    authorization: str | None


class CountingProxy:
    """Forwards every request to ``target`` unchanged and records it with its answer."""

    def __init__(self, target: str) -> None:
        self.target = urlsplit(target).netloc
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the clients use it

            def do_GET(self) -> None:
                proxy._forward(self)

            do_POST = do_DELETE = do_HEAD = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        headers = {
            name: value
            for name, value in handler.headers.items()
            if name.lower() not in ("host", "connection", "content-length")
        }
        connection = HTTPConnection(self.target, timeout=30)
        try:
            connection.request(handler.command, handler.path, body, headers)
            answer = connection.getresponse()
            payload = answer.read()
            answer_headers = answer.getheaders()
        finally:
            connection.close()
        with self._lock:
            path = handler.path.split("?", 1)[0]
            auth = handler.headers.get("Authorization")
            self._seen.append(Seen(handler.command, path, answer.status, auth))
        handler.send_response(answer.status)
        for name, value in answer_headers:
            if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(payload)

    def seen(self, path_end: str = "", method: str | None = None) -> list[Seen]:
        """The requests so far whose path ends with ``path_end`` (and of ``method``)."""
        with self._lock:
            return [
                s
                for s in self._seen
                if s.path.endswith(path_end) and (method is None or s.method == method)
            ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> CountingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
