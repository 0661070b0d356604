"""What operators' tools read: request ids, Prometheus counts, the writer watched.

``install`` wraps the whole middleware stack, CORS included, in one pure-ASGI layer,
``Observe``, so every answer is seen — FastAPI's routes, the fast path beneath FastAPI
that serves most ingest, the auth layer's 401s, the ingress's 413s, Starlette's own 500
and CORS's preflights — and every answer carries ``X-Request-ID`` and the security
headers (``security.with_headers``). Requests are counted by
route *template* (``/api/sessions/{session_id}/events``), never by raw path, so the number
of series stays bounded however many sessions exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datacat import promstats, requestid, security
from datacat.api import fastpath, prometheus
from datacat.settings import Settings

UNMATCHED = "unmatched"
"""The route label of a request no route answers (a 404, a slash redirect)."""


class RouteNames:
    """The route template a request was served by, whichever layer answered it."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._fast: dict[Any, str] = {}
        self._table: list[_Template] | None = None

    def name(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is not None:  # FastAPI's router said which
            return str(route.path)
        handler = scope.get(fastpath.SERVED_BY)
        if handler is None:  # refused before it, or served from a copy of the scope
            found = fastpath.route(scope["method"], scope["path"])
            handler = None if found is None else found[0]
        if handler is not None:
            # The fast path serves routes FastAPI also declares: the same template for
            # both, looked up once per handler (the hot path must not scan every route).
            name = self._fast.get(handler)
            if name is None:
                name = self._fast[handler] = self._match(scope)
            return name
        return self._match(scope)  # refused before routing (401, 413, 429), a Mount, a 404

    def _match(self, scope: Scope) -> str:
        if self._table is None:
            self._table = _templates(self._app)
        path, method = scope["path"], scope["method"]
        wrong_method = None
        for template in self._table:
            if template.pattern.match(path):
                if template.methods is None or method in template.methods:
                    return template.path
                wrong_method = wrong_method or template.path  # a 405 still names its route
        return wrong_method or UNMATCHED


@dataclass(frozen=True, slots=True)
class _Template:
    path: str
    pattern: re.Pattern[str]
    methods: frozenset[str] | None


def _templates(app: FastAPI) -> list[_Template]:
    """Every route of ``app``, nested routers flattened, in the router's order."""
    table = []
    for context in iter_route_contexts(app.router.routes):
        path = context.path
        if path is None:
            continue
        if isinstance(context.original_route, Mount):
            prefix = path.rstrip("/")
            table.append(_Template(prefix, re.compile(f"^{re.escape(prefix)}(/|$)"), None))
            continue
        methods = context.methods
        table.append(
            _Template(path, compile_path(path)[0], frozenset(methods) if methods else None)
        )
    return table


class Observe:
    """Pure ASGI, outside everything: a request id in and out, the security headers on every
    answer, and the request counted once it has finished.

    One layer with one send wrapper for all three, not a layer each: on the ingest path a
    layer's own coroutine and send wrapper cost about as much as its work (~1 µs of a
    ~30 µs request), and they would run for every request.
    """

    def __init__(self, app: ASGIApp, routes: RouteNames, stats: promstats.RequestStats) -> None:
        self.app = app
        self.routes = routes
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == requestid.HEADER:
                request_id = requestid.sane(value)
                break
        if request_id is None:
            request_id = requestid.new()
        token = requestid.current.set(request_id)
        header = (requestid.HEADER, request_id.encode())
        api = security.is_api(scope["path"])
        status = 499  # nginx's "client closed the request": no answer was ever started

        def sending(message: Message) -> Awaitable[None]:
            # Not a coroutine of its own: the caller awaits ``send``'s directly.
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = security.with_headers(message.get("headers", ()), api)
                headers.append(header)
                message = {**message, "headers": headers}
            return send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, sending)
        except Exception:
            if status == 499:
                status = 500  # what the server answers for an exception that escaped
            # The id stays set: the server logs the traceback after this returns, in this
            # same task, and that line should name the request too. (Cancelled — the
            # client left — stays a 499.)
            raise
        else:
            requestid.current.reset(token)
        finally:
            self.stats.observe(
                scope["method"], self.routes.name(scope), status, time.perf_counter() - started
            )


def _watch_writer(app: FastAPI) -> None:
    """Once the lifespan has made the repository, be told of each group its writer commits
    and flush the request tallies every second; when it ends, count the last ones and take
    this worker out of the live sums."""
    start = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with start(application) as state:
            writer = application.state.repository.writer

            def committed(ops: int, rows: Mapping[str, int]) -> None:
                promstats.group_committed(ops, rows, writer.queue_depth)

            writer.observers.append(committed)
            flusher = asyncio.create_task(promstats.flush_forever(), name="datacat-promstats")
            try:
                yield state
            finally:
                flusher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await flusher
                promstats.process_exiting()

    app.router.lifespan_context = lifespan  # Starlette's attribute; the original runs inside


def install(app: FastAPI, settings: Settings) -> None:
    """Serve ``/-/metrics`` and wrap ``app`` with ``Observe``; called last by create_app,
    so that every answer passes through it, CORS's preflights included."""
    app.include_router(prometheus.router)
    routes = RouteNames(app)
    stats = promstats.REQUEST_STATS
    build = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        return Observe(build(), routes, stats)

    # Starlette's hook for building the stack (security.install wraps it the same way, first).
    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
    _watch_writer(app)
