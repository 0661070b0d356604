"""Dependencies shared by the routers: the repository, settings and common parameters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from pydantic import AfterValidator, BeforeValidator

from datacat.api.schemas import NUL_FREE, no_nul, rfc3339_text
from datacat.settings import Settings
from datacat.store.repository import ROW_CURSOR, SESSION_CURSOR, Repository, SessionFilter
from datacat.store.statefilter import (
    PATH_PATTERN,
    InvalidPath,
    StateFilter,
    StateMode,
    state_filter,
)
from datacat.timefmt import maybe_us


async def get_repository(request: Request) -> Repository:
    repository: Repository = request.app.state.repository  # set by create_app
    return repository


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


Repo = Annotated[Repository, Depends(get_repository)]


QueryText = Annotated[str | None, AfterValidator(no_nul)]
QueryTime = Annotated[datetime | None, BeforeValidator(rfc3339_text)]
StatePath = Annotated[
    QueryText,
    Query(
        max_length=512,
        json_schema_extra={"pattern": PATH_PATTERN},
        description="Dot notation, e.g. `window_state.open`; needs `state_value`.",
    ),
]
_NEXT = "The `next_cursor` of the previous page."
SessionCursor = Annotated[
    str | None,
    Query(max_length=40, json_schema_extra={"pattern": SESSION_CURSOR}, description=_NEXT),
]
RowCursor = Annotated[
    str | None, Query(max_length=20, json_schema_extra={"pattern": ROW_CURSOR}, description=_NEXT)
]


async def session_filter(
    status: Annotated[
        str | None,
        Query(pattern="^(active|ended|hung|crashed|abandoned)$", description="Session status."),
    ] = None,
    active: bool | None = None,
    product: Annotated[QueryText, Query(max_length=256, json_schema_extra=NUL_FREE)] = None,
    created_after: QueryTime = None,
    created_before: QueryTime = None,
    state_path: StatePath = None,
    state_value: Annotated[
        QueryText,
        Query(
            max_length=1024,
            json_schema_extra=NUL_FREE,
            description='Compared as text: `5` matches 5 and "5"; needs `state_path`.',
        ),
    ] = None,
    state_mode: Annotated[
        StateMode,
        Query(description="`current` value equals; `contains` array has it; `ever` in history."),
    ] = StateMode.current,
    version: Annotated[QueryText, Query(max_length=256, json_schema_extra=NUL_FREE)] = None,
    event: Annotated[
        QueryText,
        Query(max_length=256, json_schema_extra=NUL_FREE, description="Logged an event so named."),
    ] = None,
    ever_hung: Annotated[
        bool | None,
        Query(
            description="`true`: logged `application_appears_hung` at any time (even if recovered)."
        ),
    ] = None,
    q: Annotated[
        QueryText,
        Query(
            min_length=1,
            max_length=256,
            json_schema_extra=NUL_FREE,
            description="Logged an event whose name or message contains this (any case).",
        ),
    ] = None,
) -> SessionFilter:
    return SessionFilter(
        status=status,
        active=active,
        product=product,
        created_after_us=maybe_us(created_after),
        created_before_us=maybe_us(created_before),
        state=parse_state_filter(state_path, state_value, state_mode),
        version=version,
        event=event,
        ever_hung=ever_hung,
        q=q,
    )


def parse_state_filter(path: str | None, value: str | None, mode: StateMode) -> StateFilter | None:
    try:
        return state_filter(path, value, mode)
    except InvalidPath as exc:
        raise HTTPException(422, str(exc)) from exc


Filters = Annotated[SessionFilter, Depends(session_filter)]


@dataclass(frozen=True, slots=True)
class LogPage:
    """The paging and filters shared by a session's events and metrics listings."""

    name: str | None
    since_us: int | None
    until_us: int | None
    cursor: str | None
    limit: int


async def log_page(
    name: Annotated[QueryText, Query(max_length=256, json_schema_extra=NUL_FREE)] = None,
    since: QueryTime = None,
    until: QueryTime = None,
    cursor: RowCursor = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> LogPage:
    return LogPage(name, maybe_us(since), maybe_us(until), cursor, limit)


LogPageQuery = Annotated[LogPage, Depends(log_page)]
