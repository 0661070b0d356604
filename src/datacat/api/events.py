"""Events across sessions (issue 12): one search over every session's log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from datacat.api import render
from datacat.api.deps import QueryText, QueryTime, Repo, SessionCursor
from datacat.api.responses import json_response
from datacat.api.schemas import NUL_FREE, ErrorBody, EventLevel, EventRecord
from datacat.store.eventsearch import EventQuery
from datacat.timefmt import maybe_us

router = APIRouter(prefix="/api/events", tags=["events"])


class FoundEvent(EventRecord):
    session_id: str
    product: str | None = Field(description="The session's product.")
    version: str | None = Field(description="The session's version.")


class FoundEventPage(BaseModel):
    items: list[FoundEvent]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


@router.get(
    "",
    response_model=FoundEventPage,
    responses={422: {"model": ErrorBody, "description": "Invalid parameters or cursor"}},
)
async def search_events(
    repo: Repo,
    name: Annotated[QueryText, Query(max_length=256, json_schema_extra=NUL_FREE)] = None,
    level: Annotated[
        EventLevel | None, Query(description="Events stored without a level count as `info`.")
    ] = None,
    q: Annotated[
        QueryText,
        Query(
            min_length=1,
            max_length=256,
            json_schema_extra=NUL_FREE,
            description="The name or message contains this (any case; `%` and `_` literal).",
        ),
    ] = None,
    product: Annotated[QueryText, Query(max_length=256, json_schema_extra=NUL_FREE)] = None,
    version: Annotated[QueryText, Query(max_length=256, json_schema_extra=NUL_FREE)] = None,
    since: QueryTime = None,
    until: QueryTime = None,
    cursor: SessionCursor = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Events of every session, newest first by their timestamp, with the session's id,
    product and version: "the latest errors of version 2.1" without opening sessions."""
    query = EventQuery(
        name=name,
        level=level,
        q=q,
        product=product,
        version=version,
        since_us=maybe_us(since),
        until_us=maybe_us(until),
        limit=limit,
    )
    found = await repo.search_events(query, cursor)
    items = [
        {
            **render.event_out(row),
            "session_id": row["session_id"],
            "product": row["product"],
            "version": row["version"],
        }
        for row in found.items
    ]
    return json_response({"items": items, "next_cursor": found.next_cursor})
