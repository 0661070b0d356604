"""Exceptions grouped across sessions (issue 12): the groups, and one group with its
traceback and occurrences.

A group is every ``exception`` event with the same fingerprint (``datacat.fingerprint``:
the exception's type and the application frames it was raised through, whatever the line
numbers and install paths). The response models live here, beside the only routes that
answer with them, as ``api.events`` does.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from datacat.api.deps import QueryText, QueryTime, Repo, SessionCursor
from datacat.api.responses import json_response
from datacat.api.schemas import NUL_FREE, ErrorBody
from datacat.fingerprint import frames_of
from datacat.store.exceptions import GROUP_CURSOR, BadCursor, Group, GroupQuery
from datacat.store.repository import decode_cursor
from datacat.timefmt import maybe_us, to_rfc3339

router = APIRouter(prefix="/api/exceptions", tags=["exceptions"])

FINGERPRINT_PATTERN = "^[0-9a-f]{32}$"
_FP = "3f1c0a9be2d54c7a8b6e1d2f0a9c8b7e"
_T0 = "2026-11-20T09:12:03.250000Z"
_T1 = "2026-11-28T17:42:10.123456Z"
_GROUP_EXAMPLE: dict[str, Any] = {
    "fingerprint": _FP,
    "type": "ValueError",
    "message": "invalid literal for int() with base 10: 'x'",
    "occurrences": 42,
    "sessions": 17,
    "fatal": 3,
    "first_seen": _T0,
    "last_seen": _T1,
    "versions": ["1.4.0", "1.5.0"],
    "products": ["space-probe"],
}
_FRAME_EXAMPLE: dict[str, Any] = {
    "file": "/srv/app/probe/worker.py",
    "line": 42,
    "function": "run",
    "module": "probe.worker",
    "in_app": True,
}
_OCCURRENCE_EXAMPLE: dict[str, Any] = {
    "id": 90211,
    "timestamp": _T1,
    "session_id": "0193a5f2-7c1e-7d4b-9a3e-2f5a8b7c6d10",
    "product": "space-probe",
    "version": "1.5.0",
    "host": "probe-7",
    "message": "invalid literal for int() with base 10: 'x'",
    "fatal": False,
}


class ExceptionGroup(BaseModel):
    fingerprint: str = Field(description="32 hex digits naming the group.")
    type: str | None = Field(description="The exception's type (the latest occurrence's).")
    message: str | None = Field(description="A sample: the latest occurrence's message.")
    occurrences: int
    sessions: int = Field(description="Sessions it happened in.")
    fatal: int = Field(description="Occurrences that were fatal (crashed their session).")
    first_seen: str
    last_seen: str
    versions: list[str] = Field(description="Versions of the sessions it happened in.")
    products: list[str] = Field(description="Products of the sessions it happened in.")


class ExceptionGroupPage(BaseModel):
    items: list[ExceptionGroup]
    next_cursor: str | None = Field(
        description="Pass as `cursor` (with the same filters and sort) for the next page."
    )
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [_GROUP_EXAMPLE], "next_cursor": f"1764351730123456.{_FP}"}]
        }
    )


class ExceptionFrame(BaseModel):
    file: str
    line: int | None
    function: str
    module: str | None
    in_app: bool = Field(description="The application's own code (as sent, or by its path).")


class ExceptionOccurrence(BaseModel):
    id: int = Field(description="The event's id.")
    timestamp: str
    session_id: str
    product: str | None
    version: str | None
    host: str | None
    message: str | None
    fatal: bool


class ExceptionGroupDetail(ExceptionGroup):
    traceback: list[str] = Field(description="The latest occurrence's traceback lines.")
    frames: list[ExceptionFrame] = Field(
        description="The latest occurrence's frames, outermost call first."
    )
    items: list[ExceptionOccurrence] = Field(
        description="Occurrences, newest first (a page of them)."
    )
    next_cursor: str | None = Field(description="Pass as `cursor` for the next occurrences.")
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_GROUP_EXAMPLE,
                    "traceback": [
                        "Traceback (most recent call last):",
                        '  File "/srv/app/probe/worker.py", line 42, in run',
                        "ValueError: invalid literal for int() with base 10: 'x'",
                    ],
                    "frames": [_FRAME_EXAMPLE],
                    "items": [_OCCURRENCE_EXAMPLE],
                    "next_cursor": "1764351730123456.90211",
                }
            ]
        }
    )


@router.get(
    "",
    response_model=ExceptionGroupPage,
    responses={422: {"model": ErrorBody, "description": "Invalid parameters or cursor"}},
)
async def exception_groups(
    repo: Repo,
    product: Annotated[QueryText, Query(max_length=256, json_schema_extra=NUL_FREE)] = None,
    version: Annotated[QueryText, Query(max_length=256, json_schema_extra=NUL_FREE)] = None,
    since: QueryTime = None,
    until: QueryTime = None,
    fatal: Annotated[
        bool | None,
        Query(description="`true`: count only fatal occurrences; `false`: only the others."),
    ] = None,
    sort: Annotated[
        Literal["recent", "frequent"],
        Query(description="`recent`: latest occurrence first; `frequent`: most occurrences."),
    ] = "recent",
    cursor: Annotated[
        str | None,
        Query(
            max_length=60,
            json_schema_extra={"pattern": GROUP_CURSOR},
            description="The `next_cursor` of the previous page.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """Exceptions grouped by fingerprint across sessions, hosts and versions: how often,
    in how many sessions, which versions, first and last seen, how many were fatal."""
    query = GroupQuery(
        product=product,
        version=version,
        since_us=maybe_us(since),
        until_us=maybe_us(until),
        fatal=fatal,
        sort=sort,
        limit=limit,
    )
    try:
        page = await repo.exceptions.groups(query, cursor)
    except BadCursor as exc:
        raise HTTPException(422, str(exc)) from exc
    return json_response(
        {"items": [group_out(g) for g in page.items], "next_cursor": page.next_cursor}
    )


@router.get(
    "/{fingerprint}",
    response_model=ExceptionGroupDetail,
    responses={
        404: {"model": ErrorBody, "description": "No exception has this fingerprint"},
        422: {"model": ErrorBody, "description": "Invalid fingerprint, parameters or cursor"},
    },
)
async def exception_group(
    repo: Repo,
    fingerprint: Annotated[
        str, Path(pattern=FINGERPRINT_PATTERN, description="A group's `fingerprint`.")
    ],
    cursor: SessionCursor = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Any:
    """One group: its figures, the latest occurrence's traceback and frames (which are the
    application's own marked), and its occurrences newest first with their sessions."""
    after = None
    if cursor is not None:
        ts_us, event_id = decode_cursor(cursor, 2)  # InvalidCursor: a 422 (``api.errors``)
        after = (ts_us, event_id)
    found = await repo.exceptions.group(fingerprint, after, limit)
    if found is None:
        raise HTTPException(404, f"no exception with fingerprint {fingerprint}")
    latest = found.latest or {}
    return json_response(
        {
            **group_out(found.group),
            "traceback": traceback_lines(latest.get("traceback")),
            "frames": [
                {
                    "file": frame.file,
                    "line": frame.line,
                    "function": frame.function,
                    "module": frame.module,
                    "in_app": frame.in_app,
                }
                for frame in frames_of(latest)
            ],
            "items": [occurrence_out(row) for row in found.occurrences],
            "next_cursor": found.next_cursor,
        }
    )


def group_out(group: Group) -> dict[str, Any]:
    return {
        "fingerprint": group.fingerprint,
        "type": group.type,
        "message": group.message,
        "occurrences": group.occurrences,
        "sessions": group.sessions,
        "fatal": group.fatal,
        "first_seen": to_rfc3339(group.first_seen_us),
        "last_seen": to_rfc3339(group.last_seen_us),
        "versions": group.versions,
        "products": group.products,
    }


def occurrence_out(row: dict[str, Any]) -> dict[str, Any]:
    data = row["data"]
    message = data.get("message") if isinstance(data, dict) else None
    return {
        "id": row["id"],
        "timestamp": to_rfc3339(row["ts_us"]),
        "session_id": row["session_id"],
        "product": row["product"],
        "version": row["version"],
        "host": row["host"],
        "message": message if isinstance(message, str) else None,
        "fatal": bool(row["fatal"]),
    }


def traceback_lines(value: Any) -> list[str]:
    """The lines as a person reads them, whether sent as a list or as one string."""
    if isinstance(value, str):
        return value.splitlines()
    if isinstance(value, list):
        return [line for item in value if isinstance(item, str) for line in item.splitlines()]
    return []
