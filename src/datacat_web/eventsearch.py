"""The Events page: ``GET /api/events`` for people, one search over every session's log.

The form's fields are the API's parameters, so a page URL and an API URL read alike; an
htmx request gets only the results table. Bad input (an unknown level, NUL, a forged
cursor, an unreadable time) is a 422 page naming it, never a 500.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request

from datacat.api.deps import Repo
from datacat.store.eventsearch import EventQuery
from datacat.store.repository import InvalidCursor
from datacat_web.context import display_time
from datacat_web.views import _is_htmx, _page, _start_clock, _url

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
    values = {f: request.query_params.get(f, "").strip() for f in FIELDS}
    cursor = request.query_params.get("cursor") or None
    error = None
    rows: list[dict[str, Any]] = []
    next_cursor = None
    try:
        query = _query(values)
        page = await repo.search_events(query, cursor)
    except (ValueError, InvalidCursor) as exc:
        error = str(exc)
    else:
        rows = [_row(r) for r in page.items]
        next_cursor = page.next_cursor
    kept = urlencode({k: v for k, v in values.items() if v})
    context = {
        "nav": "events",
        "values": values,
        "levels": LEVELS,
        "rows": rows,
        "error": error,
        "paged": cursor is not None,
        "first_href": _url("/events", kept),
        "next_href": None if next_cursor is None else _url("/events", _join(kept, next_cursor)),
    }
    status = 422 if error else 200
    if not _is_htmx(request):
        return _page(request, "events.html", context, status)
    response = _page(request, "_event_results.html", context, status)
    # The address bar gets the tidy URL (no empty fields), not the raw form serialisation.
    response.headers["HX-Push-Url"] = _url("/events", _join(kept, None if error else cursor))
    return response


def _join(kept: str, cursor: str | None) -> str:
    return kept if cursor is None else "&".join(p for p in (kept, f"cursor={cursor}") if p)
