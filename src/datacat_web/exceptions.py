"""The Exceptions pages: ``GET /api/exceptions`` and ``/api/exceptions/{fingerprint}`` for
people — groups of the same exception across sessions, and one group with its traceback
(the application's own frames marked) and the sessions it hit.

Reads go through the repository (``repo.exceptions``), as every page's do; the form's
fields are the API's parameters, so a page URL and an API URL read alike. Bad input (NUL,
a forged cursor, a malformed fingerprint) is a 422 page naming it, an unknown group a 404
page, never a 500.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request

from datacat.api.deps import Repo
from datacat.api.exceptions import group_out, occurrence_out, traceback_lines
from datacat.fingerprint import frames_of
from datacat.store.exceptions import BadCursor, Group, GroupQuery
from datacat.store.repository import InvalidCursor, decode_cursor
from datacat_web import searchpage
from datacat_web.context import display_time
from datacat_web.views import PageError, _page, _start_clock, _url

router = APIRouter(include_in_schema=False, dependencies=[Depends(_start_clock)])

FIELDS = ("product", "version", "fatal", "sort")
SORTS = (("recent", "Newest"), ("frequent", "Most frequent"))
FATAL = (("", "any"), ("true", "fatal only"), ("false", "not fatal"))
GROUPS_PER_PAGE = 50
OCCURRENCES_PER_PAGE = 50
_FINGERPRINT = re.compile(r"[0-9a-f]{32}")


def _query(values: dict[str, str]) -> GroupQuery:
    if any("\x00" in value for value in values.values()):
        raise ValueError("filters may not contain NUL characters")
    if any(len(values[f]) > 256 for f in ("product", "version")):
        raise ValueError("a filter is longer than 256 characters")
    if values["fatal"] not in ("", "true", "false"):
        raise ValueError("fatal must be true, false or empty")
    if values["sort"] not in ("", "recent", "frequent"):
        raise ValueError("sort must be recent or frequent")
    return GroupQuery(
        product=values["product"] or None,
        version=values["version"] or None,
        fatal=None if not values["fatal"] else values["fatal"] == "true",
        sort="frequent" if values["sort"] == "frequent" else "recent",
        limit=GROUPS_PER_PAGE,
    )


def group_row(group: Group) -> dict[str, Any]:
    return {
        **group_out(group),
        "first": display_time(group.first_seen_us),
        "last": display_time(group.last_seen_us),
        "href": f"/exceptions/{group.fingerprint}",
    }


@router.get("/exceptions")
async def exceptions_page(request: Request, repo: Repo) -> Any:
    values, cursor = searchpage.form(request, FIELDS)
    try:
        page = await repo.exceptions.groups(_query(values), cursor)
    except (ValueError, BadCursor) as exc:
        found = searchpage.Results([], error=str(exc))
    else:
        found = searchpage.Results([group_row(g) for g in page.items], page.next_cursor)
    context = {"nav": "exceptions", "sorts": SORTS, "fatal_choices": FATAL}
    templates = ("exceptions.html", "_exception_groups.html")
    return searchpage.render(request, "/exceptions", templates, values, cursor, found, context)


@router.get("/exceptions/{fingerprint}")
async def exception_page(request: Request, fingerprint: str, repo: Repo) -> Any:
    """One group: figures, the latest traceback with in-app frames marked, and the
    occurrences newest first, each linking its session."""
    if _FINGERPRINT.fullmatch(fingerprint) is None:
        raise PageError(
            422,
            "Invalid fingerprint",
            "A fingerprint is 32 lowercase hex digits, not",
            subject=fingerprint,
            nav="exceptions",
        )
    cursor = request.query_params.get("cursor") or None
    after = None
    if cursor is not None:
        try:
            ts_us, event_id = decode_cursor(cursor, 2)
        except InvalidCursor as exc:
            raise PageError(422, "Invalid cursor", str(exc), nav="exceptions") from exc
        after = (ts_us, event_id)
    found = await repo.exceptions.group(fingerprint, after, OCCURRENCES_PER_PAGE)
    if found is None:
        raise PageError(
            404, "No such exception", "No exception has the fingerprint", fingerprint, "exceptions"
        )
    latest = found.latest or {}
    here = f"/exceptions/{fingerprint}"
    context = {
        "nav": "exceptions",
        "group": group_row(found.group),
        "traceback": "\n".join(traceback_lines(latest.get("traceback"))),
        "frames": [
            {
                "where": f"{frame.file}:{frame.line}" if frame.line is not None else frame.file,
                "function": frame.function,
                "module": frame.module or "",
                "in_app": frame.in_app,
            }
            for frame in frames_of(latest)
        ],
        "occurrences": [
            {**occurrence_out(row), "time": display_time(row["ts_us"])} for row in found.occurrences
        ],
        "paged": cursor is not None,
        "first_href": here,
        "next_href": None
        if found.next_cursor is None
        else _url(here, urlencode({"cursor": found.next_cursor})),
    }
    return _page(request, "exception.html", context)
