"""Dependencies shared by the routers: the repository, settings and common parameters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from pydantic import AfterValidator

from datacat.settings import Settings
from datacat.store.repository import Repository, SessionFilter
from datacat.store.statefilter import InvalidPath, StateFilter, StateMode
from datacat.timefmt import maybe_us


async def get_repository(request: Request) -> Repository:
    return request.app.state.repository


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


Repo = Annotated[Repository, Depends(get_repository)]


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


QueryText = Annotated[str | None, AfterValidator(_no_nul)]


async def session_filter(
    status: Annotated[
        str | None,
        Query(pattern="^(active|ended|hung|crashed|abandoned)$", description="Session status."),
    ] = None,
    active: bool | None = None,
    product: Annotated[QueryText, Query(max_length=256)] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    state_path: Annotated[
        QueryText, Query(max_length=512, description="Dot notation, e.g. `window_state.open`.")
    ] = None,
    state_value: Annotated[
        QueryText, Query(max_length=1024, description='Compared as text: `5` matches 5 and "5".')
    ] = None,
    state_mode: Annotated[
        StateMode,
        Query(description="`current` value equals; `contains` array has it; `ever` in history."),
    ] = StateMode.current,
) -> SessionFilter:
    return SessionFilter(
        status=status,
        active=active,
        product=product,
        created_after_us=maybe_us(created_after),
        created_before_us=maybe_us(created_before),
        state=parse_state_filter(state_path, state_value, state_mode),
    )


def parse_state_filter(path: str | None, value: str | None, mode: StateMode) -> StateFilter | None:
    if not path and value is None:
        return None
    if not path or value is None:
        raise HTTPException(422, "state_path and state_value must be given together")
    try:
        return StateFilter.build(path, value, mode)
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
    name: Annotated[QueryText, Query(max_length=256)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Annotated[QueryText, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> LogPage:
    return LogPage(name, maybe_us(since), maybe_us(until), cursor, limit)


LogPageQuery = Annotated[LogPage, Depends(log_page)]
