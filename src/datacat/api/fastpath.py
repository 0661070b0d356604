"""The hot routes, answered beneath FastAPI.

Every ingest request used to pay FastAPI's per-request machinery (request objects,
dependency solving, response classes): about 70 µs of a ~110 µs request on this kind of
machine, more than the database's share. The routes that carry the load — session
create, the five single writes, ``/api/batch`` and a session read — are served here by a
plain ASGI layer: bytes in, the same Pydantic models, pre-encoded bytes out.

FastAPI still declares those routes (``api/sessions.py``, ``api/batch.py``): they are the
documented contract in ``/openapi.json``, and ``create_app(fast_path=False)`` serves them
the ordinary way. ``tests/api/test_fast_path.py`` sends the same requests, good and bad,
to both and requires the same answers, so the two cannot drift.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Receive, Scope, Send

from datacat import jsoncheck
from datacat.api import documents, toops
from datacat.api.documents import Document
from datacat.api.errors import UNAVAILABLE, describe
from datacat.api.routing import loads
from datacat.api.schemas import (
    BatchIn,
    EndIn,
    EventIn,
    HeartbeatIn,
    JsonObject,
    MetricIn,
    SessionCreate,
)
from datacat.limits import LimitExceeded, Limits
from datacat.store.database import is_unavailable
from datacat.store.ops import UpdateState
from datacat.store.repository import Repository, SessionNotFound

log = logging.getLogger(__name__)

_OK = b'{"status":"ok"}'
_JSON = (b"content-type", b"application/json")


class Reject(Exception):
    """An answer other than 200, as FastAPI's ``HTTPException`` would have given it."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _validated(adapter: TypeAdapter[Any], body: bytes, *, required: bool) -> Any:
    """Decode and validate a body exactly as FastAPI does for a single body parameter:
    an empty body is "missing", a JSON error names its position, and every validation
    error's ``loc`` starts with ``body``."""
    if not body:
        if required:
            raise Reject(422, [{"loc": ["body"], "msg": "Field required", "type": "missing"}])
        return None
    try:
        try:
            value, context = jsoncheck.decode(body)
        except orjson.JSONDecodeError:
            value, context = loads(body), None
    except ValueError as exc:  # json.JSONDecodeError, orjson's included
        position = getattr(exc, "pos", 0)
        raise Reject(
            422, [{"loc": ["body", position], "msg": "JSON decode error", "type": "json_invalid"}]
        ) from None
    try:
        # The core validator itself: TypeAdapter.validate_python only forwards its defaults.
        return adapter.validator.validate_python(value, from_attributes=True, context=context)
    except ValidationError as exc:
        errors = [
            describe({**e, "loc": ("body", *e["loc"])}) for e in exc.errors(include_url=False)
        ]
        raise Reject(422, errors) from None


_CREATE: TypeAdapter[SessionCreate | None] = TypeAdapter(SessionCreate | None)
_STATE: TypeAdapter[dict[str, Any]] = TypeAdapter(JsonObject)
_EVENT: TypeAdapter[EventIn] = TypeAdapter(EventIn)
_METRIC: TypeAdapter[MetricIn] = TypeAdapter(MetricIn)
_HEARTBEAT: TypeAdapter[HeartbeatIn | None] = TypeAdapter(HeartbeatIn | None)
_END: TypeAdapter[EndIn | None] = TypeAdapter(EndIn | None)
_BATCH: TypeAdapter[BatchIn] = TypeAdapter(BatchIn)


@dataclass(slots=True)
class Call:
    """One request as the handlers see it (not frozen: a frozen dataclass is built through
    ``object.__setattr__`` per field, ~0.3 µs more on every request)."""

    repo: Repository
    limits: Limits
    session_id: str
    body: bytes
    headers: list[tuple[bytes, bytes]]

    def header(self, name: bytes) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode("latin-1")
        return None


_NO_BODY = SessionCreate()
"""A create without a body (or ``null``) asks for every default: one model, built once and
only ever read (building it costs ~0.5 µs, on the commonest create)."""


async def create_session(call: Call) -> bytes:
    found = _validated(_CREATE, call.body, required=False) if call.body else None
    op = toops.create(found or _NO_BODY)
    call.limits.check(op)
    session_id = await call.repo.create_session(op)
    return b'{"session_id":"' + session_id.encode() + b'"}'


async def update_state(call: Call) -> bytes:
    patch = _validated(_STATE, call.body, required=True)
    op = UpdateState(call.session_id, patch)
    call.limits.check(op)
    await call.repo.write(op)
    return _OK


async def log_event(call: Call) -> bytes:
    event = _validated(_EVENT, call.body, required=True)
    op = toops.event(call.session_id, event)
    call.limits.check(op)
    await call.repo.write(op)
    return _OK


async def log_metric(call: Call) -> bytes:
    metric = _validated(_METRIC, call.body, required=True)
    op = toops.metric(call.session_id, metric)
    call.limits.check(op)
    await call.repo.write(op)
    return _OK


async def heartbeat(call: Call) -> bytes:
    beat = _validated(_HEARTBEAT, call.body, required=False)
    await call.repo.write(toops.heartbeat(call.session_id, beat))
    return _OK


async def end_session(call: Call) -> bytes:
    end = _validated(_END, call.body, required=False)
    await call.repo.write(toops.end(call.session_id, end))
    return _OK


async def batch(call: Call) -> bytes:
    found: BatchIn = _validated(_BATCH, call.body, required=True)
    ops = [toops.batch_item(item) for item in found.items]
    call.limits.check_batch(ops)
    result = await call.repo.write_batch(ops)
    if result.missing:
        raise Reject(
            422,
            [
                {"index": i, "loc": ["body", "items", i, "session_id"], "msg": "session not found"}
                for i in result.missing
            ],
        )
    return b'{"status":"ok","accepted":%d,"duplicates":%d}' % (result.accepted, result.duplicates)


async def get_session(call: Call) -> Document:
    return await documents.session(call.repo, call.session_id, call.header(b"if-none-match"))


Handler = Callable[[Call], Awaitable[bytes | Document]]

_SESSION_WRITES: dict[str, Handler] = {
    "state": update_state,
    "events": log_event,
    "metrics": log_metric,
    "heartbeat": heartbeat,
    "end": end_session,
}


def route(method: str, path: str) -> tuple[Handler, str] | None:
    """The handler and session id for a hot route, or None to let FastAPI answer.

    Only exact paths match (``/api/sessions/`` with its slash goes on to FastAPI, which
    redirects it), and a session id is any non-empty segment, as in FastAPI's ``{id}``.
    """
    if method == "POST":
        if path == "/api/sessions":
            return create_session, ""
        if path == "/api/batch":
            return batch, ""
        parts = path.split("/")
        if len(parts) == 5 and parts[1] == "api" and parts[2] == "sessions" and parts[3]:
            handler = _SESSION_WRITES.get(parts[4])
            if handler is not None:
                return handler, parts[3]
        return None
    if method == "GET":
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == "api" and parts[2] == "sessions" and parts[3]:
            return get_session, parts[3]
    return None


SERVED_BY = "datacat.fastpath"
"""The scope key naming the handler that served a request (observability's route label)."""


class FastPath:
    """ASGI middleware: answers the hot routes itself, passes everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function returning the coroutine that answers: one frame fewer per request.
        if scope["type"] == "http":
            found = route(scope["method"], scope["path"])
            if found is not None:
                scope[SERVED_BY] = found[0]
                return self._serve(found[0], found[1], scope, receive, send)
        return self.app(scope, receive, send)

    async def _serve(
        self, handler: Handler, session_id: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # gone (or refused as too large by the ingress): nothing to write
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        state = scope["app"].state
        # Items, not attributes: Starlette's State answers an attribute only through
        # __getattr__, after a failed look-up (~0.3 µs each, on every request).
        call = Call(state["repository"], state["limits"], session_id, body, scope["headers"])
        headers = [_JSON]
        try:
            content = await handler(call)
            if isinstance(content, Document):
                await _send_document(send, content)
                return
            status = 200
        except Reject as exc:
            status, content = exc.status, orjson.dumps({"detail": exc.detail})
        except LimitExceeded as exc:
            status, content = 422, orjson.dumps({"detail": exc.detail})
        except SessionNotFound as exc:
            status, content = 404, orjson.dumps({"detail": str(exc)})
        except DBAPIError as exc:
            if not is_unavailable(exc):
                raise
            log.error("database unavailable: %s", exc.orig)  # the driver's words, not the SQL
            status, content = 503, orjson.dumps({"detail": UNAVAILABLE})
            headers.append((b"retry-after", b"1"))
        headers.append((b"content-length", b"%d" % len(content)))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


async def _send_document(send: Send, document: Document) -> None:
    headers = [(b"etag", document.etag.encode())]
    if document.body is None:
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    headers.append(_JSON)
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    async for chunk in document.body:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
