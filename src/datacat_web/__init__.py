"""datacat's web UI, served by the same app as the API (htmx 2 + Chart.js 4, vendored)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from datacat_web.views import router

STATIC = Path(__file__).parent / "static"


def mount(app: FastAPI) -> None:
    """Add the UI's pages and its static files (``/static``) to ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
