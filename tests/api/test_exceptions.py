"""Exceptions grouped across sessions (issue 12 item 3), on SQLite and PostgreSQL.

Ingest: every path that stores an event (single POST on the fast path and on FastAPI,
``/api/batch``, ``datacat import``) stores the fingerprint ``datacat.fingerprint`` gives
its data, and nothing for other events.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from datacat.app import create_app
from datacat.fingerprint import fingerprint
from datacat.settings import Settings
from datacat.store.importer import Importer
from datacat.store.repository import Repository
from datacat.store.transferformat import parse_line


def exc_data(
    function: str = "run",
    line: int = 42,
    root: str = "/srv/app",
    kind: str = "ValueError",
    message: str = "bad value 42",
    fatal: bool = False,
) -> dict[str, Any]:
    """An exception event's data as the Python client sends it (frames and lines)."""
    data: dict[str, Any] = {
        "type": kind,
        "message": message,
        "traceback": [
            "Traceback (most recent call last):",
            f'  File "{root}/myapp/worker.py", line {line}, in {function}',
            f"{kind}: {message}",
        ],
        "frames": [
            {"file": f"{root}/myapp/worker.py", "line": line, "function": function, "in_app": True},
            {
                "file": "/usr/lib/python3.12/json/decoder.py",
                "line": 337,
                "function": "decode",
                "in_app": False,
            },
        ],
    }
    if fatal:
        data["fatal"] = True
    return data


@pytest.fixture(scope="session")
async def plain(app: FastAPI, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The same service without the fast path, on the same database as ``client``."""
    application = create_app(Settings(database_url=database_url), fast_path=False)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://datacat") as http:
            yield http


async def marks(repo: Repository, session_id: str) -> list[tuple[str, Any, Any]]:
    """(name, fingerprint, fatal) of the session's events, in stored order."""
    async with repo.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT events.name, events.fingerprint, events.fatal FROM events"
                " JOIN sessions ON sessions.pk = events.session_pk"
                " WHERE sessions.id = :id ORDER BY events.id"
            ),
            {"id": session_id},
        )
        return [(name, fp, None if fatal is None else bool(fatal)) for name, fp, fatal in rows]


@pytest.mark.parametrize("path", ["fast", "plain", "batch"])
async def test_every_ingest_path_fingerprints_exception_events(
    client: httpx.AsyncClient, plain: httpx.AsyncClient, repo: Repository, path: str
) -> None:
    http = plain if path == "plain" else client
    session_id = (await http.post("/api/sessions")).json()["session_id"]
    bodies: list[dict[str, Any]] = [
        {"name": "exception", "data": exc_data()},
        {"name": "exception", "data": exc_data(line=50, fatal=True)},
        {"name": "exception", "data": {"message": "no type"}},
        {"name": "step", "data": exc_data()},
        {"name": "exception", "data": exc_data(), "level": "error", "message": "m"},
    ]
    if path == "batch":
        items = [{"op": "event", "session_id": session_id, **body} for body in bodies]
        response = await http.post("/api/batch", json={"items": items})
        assert response.status_code == 200, response.text
    else:
        for body in bodies:
            response = await http.post(f"/api/sessions/{session_id}/events", json=body)
            assert response.status_code == 200, response.text
    fp = fingerprint(exc_data())
    assert fp is not None
    assert await marks(repo, session_id) == [
        ("exception", fp, False),
        ("exception", fp, True),  # a shifted line is the same group
        ("exception", None, None),
        ("step", None, None),
        ("exception", fp, False),
    ]


async def test_imported_exception_events_are_fingerprinted(
    database_url: str, repo: Repository
) -> None:
    session_id = str(uuid.uuid4())
    line = {
        "id": session_id,
        "created_us": 1_700_000_000_000_000,
        "updated_us": 1_700_000_000_000_000,
        "ended_us": None,
        "last_seen_us": 1_700_000_000_000_000,
        "active": True,
        "status": "active",
        "state": {},
        "product": "p",
        "version": "1",
        "host": "h",
        "metadata": None,
        "heartbeat_timeout_s": None,
        "state_history": [],
        "events": [
            {"ts_us": 1, "name": "exception", "data": exc_data(fatal=True), "client_id": None},
            {"ts_us": 2, "name": "step", "data": None, "client_id": "c"},
            {"ts_us": 3, "name": "exception", "data": "junk", "client_id": None},
        ],
        "metrics": [],
    }
    importer = Importer(database_url)
    try:
        await importer.add(parse_line(orjson.dumps(line)), 1)
        await importer.flush()
    finally:
        await importer.close()
    assert await marks(repo, session_id) == [
        ("exception", fingerprint(exc_data()), True),
        ("step", None, None),
        ("exception", None, None),
    ]
