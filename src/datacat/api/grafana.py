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
    """Write the JSON array piece by piece as the repository streams it."""
    yield b"["
    in_session = in_metrics = False
    separator = b""
    async for kind, payload in repo.export_sessions(filters, limit, encoded_json=True):
        if kind == "session":
            if in_session:
                yield b"]}" if in_metrics else b'],"metrics":[]}'
                yield b","
            head = orjson.dumps(render.session_summary(payload))
            yield head[:-1] + b',"events":['
            in_session, in_metrics, separator = True, False, b""
            continue
        if kind == "metrics" and not in_metrics:
            yield b'],"metrics":['
            in_metrics, separator = True, b""
        to_json = render.event_out if kind == "events" else render.metric_out
        yield separator + b",".join(orjson.dumps(to_json(row)) for row in payload)
        separator = b","
    if in_session:
        yield b"]}" if in_metrics else b'],"metrics":[]}'
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
