"""datacat's web UI, served by the same app as the API (htmx 2 + Chart.js 4, vendored)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.responses import Response

from datacat_web import eventsearch, signin
from datacat_web.views import PageError, error_page, router

STATIC = Path(__file__).parent / "static"
_MACHINE_PATHS = ("/api/", "/static/", "/healthz", "/readyz", "/openapi.json")


async def _not_found(request: Request, exc: Exception) -> Response:
    """A person who mistypes a page address gets a page; programs keep the JSON answer."""
    assert isinstance(exc, HTTPException)
    wants_page = "text/html" in request.headers.get("accept", "")
    if wants_page and not request.url.path.startswith(_MACHINE_PATHS):
        page = PageError(404, "Page not found", "There is no page", subject=request.url.path)
        return await error_page(request, page)
    return await http_exception_handler(request, exc)


def mount(app: FastAPI) -> None:
    """Add the UI's pages, its error pages and its static files (``/static``) to ``app``."""
    app.include_router(router)
    app.include_router(signin.router)
    app.include_router(eventsearch.router)
    app.add_exception_handler(PageError, error_page)
    app.add_exception_handler(404, _not_found)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
