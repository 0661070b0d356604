"""The seed's Grafana export: every session object as one JSON array, streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from datacat.api import render
from datacat.api.deps import Filters, Repo
from datacat.api.schemas import ErrorBody, SessionDetail
from datacat.store.repository import Repository, SessionFilter
from datacat.timefmt import to_us

router = APIRouter(prefix="/api/grafana", tags=["grafana"])


async def _stream(
    repo: Repository, filters: SessionFilter, limit: int | None
) -> AsyncIterator[bytes]:
    yield b"["
    first = True
    async for row in repo.export_sessions(filters, limit):
        chunk = orjson.dumps(render.session_detail(row))
        yield chunk if first else b"," + chunk
        first = False
    yield b"]"


@router.get(
    "/sessions",
    response_model=list[SessionDetail],
    responses={422: {"model": ErrorBody, "description": "Invalid filter"}},
)
async def all_sessions(
    repo: Repo,
    filters: Filters,
    since: Annotated[
        datetime | None, Query(description="Sessions created at or after this time (RFC 3339).")
    ] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Any:
    """Every session object (oldest first), streamed so memory stays flat at any size."""
    if since is not None:
        filters = replace(filters, created_after_us=to_us(since))
    return StreamingResponse(_stream(repo, filters, limit), media_type="application/json")
