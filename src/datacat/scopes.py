"""Which key scope a request needs: the whole access rule, free of HTTP machinery.

``ingest`` writes (a program logging its run), ``read`` looks (people, dashboards,
Grafana), ``admin`` does both and deletes. A program's ingest key is the one most likely
to leak — it ships inside the program — so it cannot read anyone's data back.
"""

from __future__ import annotations

from typing import Literal

INGEST, READ, ADMIN = "ingest", "read", "admin"
PAGE: Literal["page"] = "page"
"""A web UI page: a read key, by header or by the sign-in cookie."""

PROMETHEUS_PATH = "/-/metrics"
"""Prometheus's scrape: operational data, but it names products, so a read key."""
OPEN_PATHS = ("/healthz", "/readyz", "/openapi.json", "/docs", "/redoc", "/signin", "/signout")
OPEN_PREFIXES = ("/static/", "/docs/", "/favicon")
_READ_METHODS = ("GET", "HEAD")


def required(method: str, path: str) -> str | None:
    """The scope ``method path`` needs, ``PAGE`` for the UI, or None when anyone may ask."""
    if path.startswith("/api/") or path == "/api":
        if method == "OPTIONS":
            return None  # a CORS preflight carries no credentials by design
        if method == "DELETE" or path.startswith("/api/keys"):
            return ADMIN
        return READ if method in _READ_METHODS else INGEST
    if path == PROMETHEUS_PATH:
        return READ
    if path.startswith("/v1/"):
        return INGEST  # OpenTelemetry's OTLP/HTTP receivers
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return None
    return PAGE


def allows(granted: str, needed: str) -> bool:
    if granted == ADMIN:
        return True
    if needed == PAGE:
        return granted == READ
    return granted == needed
