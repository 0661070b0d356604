"""The seed's session endpoints, wire-compatible, plus datacat's reads on one session."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request

from datacat.api import documents, render, toops
from datacat.api.deps import Filters, LogPageQuery, Repo, RowCursor, SessionCursor
from datacat.api.responses import document_response, json_response, ok
from datacat.api.routing import FastJsonRoute
from datacat.api.schemas import (
    EndIn,
    ErrorBody,
    EventIn,
    EventPage,
    HeartbeatIn,
    JsonObject,
    MetricIn,
    MetricPage,
    SessionCreate,
    SessionCreated,
    SessionDetail,
    SessionPage,
    StateHistoryPage,
    StatusOK,
)
from datacat.limits import Limits
from datacat.store.ops import (
    UpdateState,
)
from datacat.store.repository import SORTS

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown session"}
}
INVALID: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": "Body larger than DATACAT_MAX_BODY_BYTES"},
    422: {
        "model": ErrorBody,
        "description": "Body or parameters invalid, or over a limit (README, Limits); "
        "`detail` names the field, or the limit and its setting",
    },
    503: {"model": ErrorBody, "description": "Database unavailable; retry after Retry-After"},
}

router = APIRouter(prefix="/api/sessions", tags=["sessions"], route_class=FastJsonRoute)


def get_limits(request: Request) -> Limits:
    limits: Limits = request.app.state.limits  # set by create_app
    return limits


Checked = Annotated[Limits, Depends(get_limits)]


@router.post("", response_model=SessionCreated, responses=INVALID)
async def create_session(
    repo: Repo, limits: Checked, body: Annotated[SessionCreate | None, Body()] = None
) -> Any:
    """Open a session. The body is optional: the seed's clients send none."""
    op = toops.create(body)
    limits.check(op)
    session_id = await repo.create_session(op)
    return json_response({"session_id": session_id})


@router.get("", response_model=SessionPage, responses=INVALID)
async def list_sessions(
    repo: Repo,
    filters: Filters,
    sort: Annotated[
        str,
        Query(pattern="^-?(created_at|updated_at|last_seen_at)$", description="`-` = descending"),
    ] = "-created_at",
    cursor: SessionCursor = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """Session summaries (no events or metrics), filtered and cursor-paged."""
    column = sort.lstrip("-")
    assert column in SORTS
    page = await repo.list_sessions(filters, column, sort.startswith("-"), cursor, limit)
    return json_response(
        {"items": [render.session_summary(r) for r in page.items], "next_cursor": page.next_cursor}
    )


@router.get(
    "/{session_id}",
    response_model=SessionDetail,
    responses={**NOT_FOUND, 304: {"description": "Unchanged since the `If-None-Match` ETag"}},
)
async def get_session(
    session_id: str,
    repo: Repo,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Any:
    """The seed's session object — state, every event and metric — plus status and labels."""
    return document_response(await documents.session(repo, session_id, if_none_match))


@router.delete("/{session_id}", response_model=StatusOK, responses={**NOT_FOUND, **INVALID})
async def delete_session(session_id: str, repo: Repo) -> Any:
    """Delete the session with its events, metrics and state history (admin scope).
    Later reads and writes naming it answer 404."""
    await repo.delete_session(session_id)
    return ok()


@router.post("/{session_id}/state", response_model=StatusOK, responses={**NOT_FOUND, **INVALID})
async def update_state(
    session_id: str,
    repo: Repo,
    limits: Checked,
    state: Annotated[JsonObject, Body(examples=[{"status": "running", "window": {"open": ["a"]}}])],
) -> Any:
    """Deep-merge the body into the session's state (objects merge, anything else replaces)."""
    op = UpdateState(session_id, state)
    limits.check(op)
    await repo.write(op)
    return ok()


# Issue 12's optional fields, shown in /docs beside the original's shape.
_EVENT = {
    "name": "disk",
    "data": {"free_mb": 12},
    "level": "warning",
    "message": "disk almost full",
    "category": "storage",
    "labels": ["io"],
}
_METRIC = {"name": "frame_time", "value": 16.7, "kind": "timer", "unit": "ms"}


@router.post("/{session_id}/events", response_model=StatusOK, responses={**NOT_FOUND, **INVALID})
async def log_event(
    session_id: str,
    body: Annotated[
        EventIn, Body(examples=[{"name": "started", "data": {"user": "alice"}}, _EVENT])
    ],
    repo: Repo,
    limits: Checked,
) -> Any:
    op = toops.event(session_id, body)
    limits.check(op)
    await repo.write(op)
    return ok()


@router.post("/{session_id}/metrics", response_model=StatusOK, responses={**NOT_FOUND, **INVALID})
async def log_metric(
    session_id: str,
    body: Annotated[MetricIn, Body(examples=[{"name": "cpu_usage", "value": 45.2}, _METRIC])],
    repo: Repo,
    limits: Checked,
) -> Any:
    op = toops.metric(session_id, body)
    limits.check(op)
    await repo.write(op)
    return ok()


@router.post("/{session_id}/end", response_model=StatusOK, responses={**NOT_FOUND, **INVALID})
async def end_session(
    session_id: str, repo: Repo, body: Annotated[EndIn | None, Body()] = None
) -> Any:
    """End the session; `{"status": "crashed"}` records that it ended by crashing."""
    await repo.write(toops.end(session_id, body))
    return ok()


@router.post("/{session_id}/heartbeat", response_model=StatusOK, responses={**NOT_FOUND, **INVALID})
async def heartbeat(
    session_id: str, repo: Repo, body: Annotated[HeartbeatIn | None, Body()] = None
) -> Any:
    """A keep-alive: the process is alive. `timeout` (s) arms abandonment detection."""
    await repo.write(toops.heartbeat(session_id, body))
    return ok()


@router.get("/{session_id}/events", response_model=EventPage, responses={**NOT_FOUND, **INVALID})
async def list_events(session_id: str, repo: Repo, page: LogPageQuery) -> Any:
    found = await repo.list_events(
        session_id, page.name, page.since_us, page.until_us, page.cursor, page.limit
    )
    return json_response(
        {"items": [render.event_out(r) for r in found.items], "next_cursor": found.next_cursor}
    )


@router.get("/{session_id}/metrics", response_model=MetricPage, responses={**NOT_FOUND, **INVALID})
async def list_metrics(session_id: str, repo: Repo, page: LogPageQuery) -> Any:
    """The session's metrics in order. A pre-aggregated histogram's item also carries its
    `count` and `buckets` as sent; its `sum` is not stored (`value * count`, up to rounding)."""
    found = await repo.list_metrics(
        session_id, page.name, page.since_us, page.until_us, page.cursor, page.limit
    )
    return json_response(
        {"items": [render.metric_out(r) for r in found.items], "next_cursor": found.next_cursor}
    )


@router.get(
    "/{session_id}/state/history",
    response_model=StateHistoryPage,
    responses={**NOT_FOUND, **INVALID},
)
async def state_history(
    session_id: str,
    repo: Repo,
    cursor: RowCursor = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> Any:
    """Every accepted state patch, oldest first, with the time it was applied."""
    page = await repo.state_history(session_id, cursor, limit)
    return json_response(
        {"items": [render.state_patch(r) for r in page.items], "next_cursor": page.next_cursor}
    )
