"""What the Events and Exceptions pages share: a form whose fields are the API's
parameters, one page of results with a cursor, and the htmx swap of only the results.

Each page reads its own rows; this module turns the form into values, and the values,
rows and cursor into the page or the fragment, so both pages agree on paging links, the
address bar (the tidy URL, no empty fields) and the 422 for bad input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse

from datacat_web.views import _is_htmx, _page, _url


@dataclass(slots=True)
class Results:
    """One page of rows, the cursor to the next, or what was wrong with the form."""

    rows: list[dict[str, Any]]
    next_cursor: str | None = None
    error: str | None = None


def form(request: Request, fields: tuple[str, ...]) -> tuple[dict[str, str], str | None]:
    """The form's values (stripped; absent = "") and the page's cursor."""
    values = {f: request.query_params.get(f, "").strip() for f in fields}
    return values, request.query_params.get("cursor") or None


def render(
    request: Request,
    path: str,
    templates: tuple[str, str],
    values: dict[str, str],
    cursor: str | None,
    found: Results,
    context: dict[str, Any],
) -> HTMLResponse:
    """``templates`` = (whole page, results fragment); ``context`` adds the page's own."""
    kept = urlencode({k: v for k, v in values.items() if v})
    next_href = None if found.next_cursor is None else _url(path, _join(kept, found.next_cursor))
    context = {
        **context,
        "values": values,
        "rows": found.rows,
        "error": found.error,
        "paged": cursor is not None,
        "first_href": _url(path, kept),
        "next_href": next_href,
    }
    status = 422 if found.error else 200
    page, fragment = templates
    if not _is_htmx(request):
        return _page(request, page, context, status)
    response = _page(request, fragment, context, status)
    # The address bar gets the tidy URL (no empty fields), not the raw form serialisation.
    response.headers["HX-Push-Url"] = _url(path, _join(kept, None if found.error else cursor))
    return response


def _join(kept: str, cursor: str | None) -> str:
    return kept if cursor is None else "&".join(p for p in (kept, f"cursor={cursor}") if p)
