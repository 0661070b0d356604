"""``/docs`` (Swagger UI) and ``/redoc``, served from the package so they work offline.

FastAPI's own pages load both from a CDN (blank on a machine without internet) and start
them with an inline ``<script>``, which the Content-Security-Policy forbids. These load the
copies vendored under ``datacat_web/static/vendor`` (listed in its ``VERSIONS.txt``) and
start them from script files under ``static/docs``.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from datacat import security
from datacat_web.views import templates

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def _openapi_url(request: Request) -> str:
    url: str | None = request.app.openapi_url
    return url or "/openapi.json"


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    context = {"openapi_url": _openapi_url(request)}
    return templates.TemplateResponse(request, "docs/swagger.html", context)


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    context = {"openapi_url": _openapi_url(request), "nonce": nonce}
    response = templates.TemplateResponse(request, "docs/redoc.html", context)
    response.headers["Content-Security-Policy"] = security.redoc_policy(nonce)
    return response
