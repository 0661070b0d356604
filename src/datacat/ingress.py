"""What every request meets first: a body-size limit, and JSON as the API's only body type.

The seed (Go) decoded every API body as JSON whatever its Content-Type, so clients that
send ``curl -d '{...}'`` (form-encoded) or no header at all worked; we keep that contract
by presenting such bodies to FastAPI as ``application/json``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class IngressMiddleware:
    """Pure ASGI, so streaming responses and the hot path pay nothing extra.

    ``Content-Length`` is checked up front; a chunked body is counted as it arrives.
    """

    def __init__(
        self,
        app: ASGIApp,
        default_limit: tuple[int, str],
        limits: dict[str, tuple[int, str]],
        worker_header: bool = False,
    ) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits = limits
        self.worker = (b"x-datacat-worker", str(os.getpid()).encode()) if worker_header else None

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function returning the coroutine that answers: a GET costs no frame here.
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        if self.worker is not None:
            send = _with_header(send, self.worker)
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return self.app(scope, receive, send)
        return self._limited(scope, receive, send)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        limit, setting = self.limits.get(path, self.default_limit)
        is_json = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_large = int(value) > limit
                except ValueError:
                    too_large = False
                if too_large:
                    await _reject(send, limit, setting)
                    return
            elif name == b"content-type":
                is_json = b"json" in value
        if not is_json and path.startswith("/api/"):
            headers = [pair for pair in scope["headers"] if pair[0] != b"content-type"]
            scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        received = 0
        started = False
        rejected = False

        async def counting_receive() -> Message:
            nonlocal received, rejected
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not started:
                    # Answer now and tell the app the client left: whatever the app does
                    # with the half-read body, nothing is written and its reply is dropped.
                    rejected = True
                    await _reject(send, limit, setting)
                    return {"type": "http.disconnect"}
            return message

        def guarded_send(message: Message) -> Awaitable[None]:
            # Not a coroutine of its own: the caller awaits ``send``'s directly.
            nonlocal started
            if rejected:
                return _dropped()
            if message["type"] == "http.response.start":
                started = True
            return send(message)

        await self.app(scope, counting_receive, guarded_send)


async def _dropped() -> None:
    """What sending after a 413 does: nothing (the client was answered)."""


def _with_header(send: Send, header: tuple[bytes, bytes]) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), header]}
        await send(message)

    return sending


async def _reject(send: Any, limit: int, setting: str) -> None:
    detail = (
        f"request body larger than {limit} bytes ({setting.lower()}={limit}, DATACAT_{setting})"
    )
    body = orjson.dumps({"detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
