"""Liveness and readiness probes for orchestrators."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from datacat.api.deps import Repo
from datacat.api.schemas import ErrorBody, Health, Ready

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Any:
    """The process is up and serving."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Ready,
    responses={503: {"model": ErrorBody, "description": "The database does not answer"}},
)
async def readyz(repo: Repo) -> Any:
    """The database answers a query."""
    try:
        await repo.ping()
    except Exception as exc:  # any failure to reach the database means "not ready"
        return JSONResponse({"detail": f"database unavailable: {type(exc).__name__}"}, 503)
    return {"status": "ok", "database": repo.dialect}
