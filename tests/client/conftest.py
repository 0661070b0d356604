"""Client tests run against a real server process on a temporary SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from client_support import FAST, ServerProcess

from datacat_client import DatacatClient, Session


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("client-server") / "x.db").start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def url(server: ServerProcess) -> str:
    return server.url


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server this test alone may stop and restart."""
    process = ServerProcess(tmp_path / "own.db").start()
    yield process
    process.stop()


@pytest.fixture
def client(url: str) -> Iterator[DatacatClient]:
    with DatacatClient(url, batch=FAST) as c:
        yield c


@pytest.fixture
def session(client: DatacatClient) -> Session:
    return Session(client, client.register_session())


@pytest.fixture
def raw(url: str) -> Iterator[httpx.Client]:
    """Plain httpx, to check what the server stored without going through the client."""
    with httpx.Client(base_url=url, timeout=30) as http:
        yield http
