"""Reference apps that do no work, to show what HTTP itself costs on this machine.

``uvicorn bench.reference:asgi_app`` is a raw ASGI callable; ``bench.reference:fastapi_app``
is the same behaviour as plain FastAPI endpoints. Both answer every POST with the JSON
datacat answers (``{"session_id": ...}`` for ``POST /api/sessions``, ``{"status":"ok"}``
otherwise) after reading the whole body, and every GET with one fixed body. The bench runs
them with the same wrk script and worker count as the datacat row beside them, so
datacat / reference is the share of the HTTP floor that datacat reaches: what is left
above it is validation, storage and rendering.

For GETs the fixed body is read once at start from the file named by
``BENCH_REFERENCE_GET_BODY`` (the bench stores the datacat response of that row there,
so both send the same bytes); without it, ``{"status":"ok"}``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response

_OK = b'{"status":"ok"}'
_SOURCE = os.environ.get("BENCH_REFERENCE_GET_BODY")
GET_BODY = Path(_SOURCE).read_bytes() if _SOURCE else _OK

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _created() -> bytes:
    return b'{"session_id":"%s"}' % str(uuid.uuid4()).encode()


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The least a Python HTTP app can do: read the request, send a fixed-shape answer."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    if scope["method"] == "GET":
        body = GET_BODY
    elif scope["path"] == "/api/sessions":
        body = _created()
    else:
        body = _OK
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


fastapi_app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
"""Plain FastAPI, routes shaped like datacat's, idiomatic dict returns for POSTs."""


@fastapi_app.post("/api/sessions")
async def create_session(request: Request) -> dict[str, str]:
    await request.body()
    return {"session_id": str(uuid.uuid4())}


@fastapi_app.post("/api/sessions/{session_id}/{kind}")
async def session_write(session_id: str, kind: str, request: Request) -> dict[str, str]:
    await request.body()
    return {"status": "ok"}


@fastapi_app.post("/api/batch")
async def batch(request: Request) -> dict[str, str]:
    await request.body()
    return {"status": "ok"}


@fastapi_app.get("/{path:path}")
async def fixed(path: str) -> Response:
    return Response(GET_BODY, media_type="application/json")
