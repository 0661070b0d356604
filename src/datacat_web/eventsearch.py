"""The Events page: ``GET /api/events`` for people, one search over every session's log.

The form's fields are the API's parameters, so a page URL and an API URL read alike; an
htmx request gets only the results table. Bad input (an unknown level, NUL, a forged
cursor, an unreadable time) is a 422 page naming it, never a 500.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, Request

from datacat.api.deps import Repo
from datacat.store.eventsearch import EventQuery
from datacat.store.repository import InvalidCursor
from datacat_web import searchpage
from datacat_web.context import display_time
from datacat_web.views import _start_clock

router = APIRouter(include_in_schema=False, dependencies=[Depends(_start_clock)])

LEVELS = ("debug", "info", "warning", "error", "critical")
FIELDS = ("q", "name", "level", "product", "version", "since", "until")
PER_PAGE = 100


def _time(text: str, field: str) -> int:
    """``datetime-local`` values (no zone) are UTC, as every time on these pages."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{field} is not a date and time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1_000_000)


def _query(values: dict[str, str]) -> EventQuery:
    if any("\x00" in value for value in values.values()):
        raise ValueError("filters may not contain NUL characters")
    level = values["level"] or None
    if level is not None and level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    if any(len(values[f]) > 256 for f in ("q", "name", "product", "version")):
        raise ValueError("a filter is longer than 256 characters")
    return EventQuery(
        name=values["name"] or None,
        level=level,
        q=values["q"] or None,
        product=values["product"] or None,
        version=values["version"] or None,
        since_us=_time(values["since"], "since") if values["since"] else None,
        until_us=_time(values["until"], "until") if values["until"] else None,
        limit=PER_PAGE,
    )


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "time": display_time(row["ts_us"]),
        "name": row["name"],
        "level": row["level"] or "info",
        "message": row["message"] or "",
        "session_id": row["session_id"],
        "short_id": row["session_id"][:8],
        "product": row["product"] or "",
        "version": row["version"] or "",
    }


@router.get("/events")
async def events_page(request: Request, repo: Repo) -> Any:
    values, cursor = searchpage.form(request, FIELDS)
    try:
        page = await repo.search_events(_query(values), cursor)
    except (ValueError, InvalidCursor) as exc:
        found = searchpage.Results([], error=str(exc))
    else:
        found = searchpage.Results([_row(r) for r in page.items], page.next_cursor)
    context = {"nav": "events", "levels": LEVELS}
    templates = ("events.html", "_event_results.html")
    return searchpage.render(request, "/events", templates, values, cursor, found, context)
