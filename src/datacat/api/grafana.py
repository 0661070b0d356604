"""The seed's Grafana export: every session object as one JSON array, streamed."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query

from datacat.api import documents
from datacat.api.deps import Filters, QueryTime, Repo
from datacat.api.responses import document_response
from datacat.api.schemas import ErrorBody, SessionDetail
from datacat.timefmt import to_us

router = APIRouter(prefix="/api/grafana", tags=["grafana"])


@router.get(
    "/sessions",
    response_model=list[SessionDetail],
    responses={
        304: {"description": "Unchanged since the `If-None-Match` ETag"},
        422: {"model": ErrorBody, "description": "Invalid filter"},
    },
)
async def all_sessions(
    repo: Repo,
    filters: Filters,
    since: Annotated[
        QueryTime, Query(description="Sessions created at or after this time (RFC 3339).")
    ] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Any:
    """Every session object (oldest first), streamed so memory stays flat at any size."""
    if since is not None:
        filters = replace(filters, created_after_us=to_us(since))
    return document_response(await documents.export(repo, filters, limit, if_none_match))
