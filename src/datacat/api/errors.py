"""Every error leaves as JSON ``{"detail": ...}`` with the right status; none as a 500."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from datacat.limits import LimitExceeded
from datacat.store.database import is_unavailable
from datacat.store.repository import InvalidCursor, SessionNotFound

log = logging.getLogger(__name__)
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def describe(error: dict[str, Any]) -> dict[str, Any]:
    """A validation error without the echoed input (which may be huge or binary)."""
    loc = list(error.get("loc", ()))
    described: dict[str, Any] = {"loc": loc, "msg": error.get("msg", ""), "type": error.get("type")}
    # For POST /api/batch, name the item so a client can drop it and resend the rest.
    if len(loc) >= 3 and loc[:2] == ["body", "items"] and isinstance(loc[2], int):
        described["index"] = loc[2]
    return described


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": [describe(e) for e in exc.errors()]}, status_code=422)


async def _not_found(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _bad_cursor(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=422)


async def _over_limit(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LimitExceeded)
    return JSONResponse({"detail": exc.detail}, status_code=422)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path, found by asking each route.

    Starlette's own 405 names only the first route whose path matched, so ``GET`` and
    ``POST /api/sessions`` (two routes) answered ``Allow: POST``; RFC 9110 wants them all.
    """
    routes = request.app.router.routes
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in routes):
            allowed.append(method)
    return allowed


async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    headers = {"Allow": ", ".join(allowed_methods(request))}
    return JSONResponse({"detail": exc.detail}, status_code=405, headers=headers)


UNAVAILABLE = "the database is unavailable; retry later"


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if not is_unavailable(exc):
        return await _unexpected(request, exc)
    log.error("database unavailable: %s", exc.orig)  # the driver's words, not the SQL
    return JSONResponse({"detail": UNAVAILABLE}, status_code=503, headers={"Retry-After": "1"})


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(SessionNotFound, _not_found)
    app.add_exception_handler(InvalidCursor, _bad_cursor)
    app.add_exception_handler(LimitExceeded, _over_limit)
    app.add_exception_handler(405, _method_not_allowed)
    # Lost connections, locks held past the busy timeout, a full disk: the client should
    # retry, and the Python client does (it retries 5xx with backoff).
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected)
