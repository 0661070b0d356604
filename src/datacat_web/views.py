"""The web UI's pages and the htmx partials that refresh parts of them.

Every page reads through the same ``Repository`` as the API: no HTTP round trip to
itself, and all filtering in SQL. A request from htmx (``HX-Request``) gets only the
fragment it swaps; the same URL without it gets the whole page, so every view can be
bookmarked and shared. Each response carries ``Server-Timing: app;dur=<ms>`` (query +
render), which ``bench/pages.py`` reads.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from datacat.api.deps import Repo
from datacat.api.metrics import GROUP_BY_PATTERN
from datacat.store.releases import ReleaseQuery
from datacat.store.repository import InvalidCursor, Repository, SessionFilter, SessionNotFound
from datacat.store.seriesquery import Aggregation, Bucket, SeriesQuery
from datacat.store.statefilter import StateMode, state_filter
from datacat.store.status import STATUSES
from datacat.timefmt import now_us
from datacat_web import context as ctx
from datacat_web.releases import release_row
from datacat_web.signin import account

STOP_POLLING = 286
"""htmx stops an ``every Ns`` trigger when a poll answers 286 (content is still swapped)."""

EVENTS_PER_PAGE = 100
HISTORY_SHOWN = 500
CHART_POINTS = 2000
SESSIONS_PER_PAGE = 50
RECENT_SESSIONS = 10
LIVE_EVERY = "3s"
EXAMPLES = (
    {
        "title": "Peak memory for sessions with “space probe” window open",
        "query": "name=memory_usage&aggregation=peak&state_mode=contains"
        "&state_path=window_state.open&state_value=space+probe",
    },
    {
        "title": "CPU usage for currently running applications",
        "query": "name=cpu_usage&aggregation=all&state_mode=current"
        "&state_path=application.status&state_value=running",
    },
)
BUCKETS = (
    ("", "No buckets"),
    ("auto", "Auto width"),
    ("1m", "1 minute"),
    ("5m", "5 minutes"),
    ("1h", "1 hour"),
    ("1d", "1 day"),
)
MODES = (
    ("none", "No filter"),
    ("current", "Current state"),
    ("ever", "State history (ever)"),
    ("contains", "State array contains"),
)


def _start_clock(request: Request) -> None:
    request.state.web_started = time.perf_counter()


templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(
    include_in_schema=False,
    default_response_class=HTMLResponse,
    dependencies=[Depends(_start_clock)],
)


def _is_htmx(request: Request) -> bool:
    """A partial swap — but a history restore (back button, cache miss) needs the page."""
    headers = request.headers
    return headers.get("HX-Request") == "true" and "HX-History-Restore-Request" not in headers


def _url(path: str, query: str) -> str:
    return f"{path}?{query}" if query else path


class PageError(Exception):
    """What a page cannot show and why; ``error_page`` renders every one the same way."""

    def __init__(
        self, status: int, title: str, message: str, subject: str = "", nav: str = "sessions"
    ) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message
        self.subject, self.nav = subject, nav

    @classmethod
    def no_session(cls, session_id: str) -> PageError:
        return cls(404, "No such session", "There is no session", subject=session_id)


async def error_page(request: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, PageError)
    context = {
        "nav": exc.nav,
        "title": exc.title,
        "message": exc.message,
        "subject": exc.subject,
        "back_href": "/sessions",
        "back_label": "Browse sessions",
    }
    return _page(request, "error.html", context, exc.status)


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    # The hints' curl and Python lines name this server as the browser reached it.
    context["base_url"] = str(request.base_url).rstrip("/")
    context.update(account(request))
    response = templates.TemplateResponse(request, name, context, status_code=status)
    # The same URL answers with a fragment or a page depending on HX-Request.
    response.headers["Vary"] = "HX-Request"
    started = getattr(request.state, "web_started", None)
    if started is not None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"app;dur={elapsed_ms:.1f}"
    return response


# -- dashboard ------------------------------------------------------------------------


async def _dashboard_context(repo: Repository) -> dict[str, Any]:
    now = now_us()
    counts = await repo.status_counts()
    events, metrics = await repo.logged_since(now - 3_600_000_000)
    recent = await repo.list_sessions(SessionFilter(), limit=RECENT_SESSIONS)
    return {
        "cards": ctx.dashboard_cards(counts, events, metrics),
        "recent": [ctx.session_row(row, now) for row in recent.items],
        "refreshed": ctx.display_time(now),
        "live_every": LIVE_EVERY,
    }


@router.get("/")
async def dashboard(request: Request, repo: Repo) -> Any:
    return _page(request, "dashboard.html", {"nav": "dashboard", **await _dashboard_context(repo)})


@router.get("/ui/dashboard")
async def dashboard_live(request: Request, repo: Repo) -> Any:
    """Polled by the dashboard: counts, rates and recent sessions, without a reload."""
    return _page(request, "_dashboard.html", await _dashboard_context(repo))


# -- session browser ------------------------------------------------------------------


@router.get("/sessions")
async def sessions_page(
    request: Request, repo: Repo, cursor: Annotated[str | None, Query(max_length=512)] = None
) -> Any:
    params = dict(request.query_params)
    query = ctx.parse_browser_query(params)
    if ctx.has_nul(params):
        query.error = "filters may not contain NUL characters"
    rows: list[dict[str, Any]] = []
    next_cursor = None
    if query.error is None:
        try:
            page = await repo.list_sessions(
                query.filters, query.sort, query.descending, cursor, SESSIONS_PER_PAGE
            )
        except InvalidCursor as exc:
            query.error = str(exc)
        else:
            now = now_us()
            rows = [ctx.session_row(row, now) for row in page.items]
            next_cursor = page.next_cursor
    context = {
        "nav": "sessions",
        "query": query,
        "rows": rows,
        "next_cursor": next_cursor,
        "paged": cursor is not None,
        "sort_value": query.values["sort"],
        "sortable": ctx.sort_links(query),
        "statuses": STATUSES,
        "modes": [mode.value for mode in StateMode],
        "filtered": query.is_filtered(),
    }
    if not _is_htmx(request):
        return _page(request, "sessions.html", context, 422 if query.error else 200)
    response = _page(request, "_sessions_table.html", context, 422 if query.error else 200)
    # The address bar gets the tidy URL (no empty fields), not the raw form serialisation.
    response.headers["HX-Push-Url"] = _url("/sessions", query.query_string(cursor=cursor))
    return response


# -- session detail -------------------------------------------------------------------

EventName = Annotated[str, Query(max_length=256)]
Cursor = Annotated[str | None, Query(max_length=512)]


async def _events_context(
    repo: Repository, session_id: str, event_name: str, cursor: str | None
) -> dict[str, Any]:
    page = await repo.list_events(
        session_id,
        name=event_name or None,
        cursor=cursor,
        limit=EVENTS_PER_PAGE,
        newest_first=True,
    )
    return {
        "events": [ctx.event_row(e) for e in page.items],
        "events_older": page.next_cursor,
        "events_paged": cursor is not None,
        "event_name": event_name,
    }


async def _charts(repo: Repository, session_id: str) -> list[dict[str, Any]]:
    charts = []
    for index, name in enumerate(await repo.metric_names_for(session_id), start=1):
        series = await repo.metric_series(
            SeriesQuery(name=name, session_id=session_id, limit=CHART_POINTS)
        )
        latest = await repo.list_metrics(session_id, name=name, limit=1, newest_first=True)
        chart = ctx.chart(f"chart-{index}", name, series)
        charts.append(chart | {"histogram": ctx.latest_histogram(latest.items)})
    return charts


async def _state_context(repo: Repository, session_id: str) -> dict[str, Any]:
    history = await repo.state_history(session_id, limit=HISTORY_SHOWN)
    items = history.items
    # Oldest first, as stored; past HISTORY_SHOWN patches the page says how many it shows.
    return {
        "history": [ctx.patch_row(item) for item in items],
        "history_more": history.next_cursor is not None,
    }


async def _session_with_events(
    repo: Repository, session_id: str, event_name: str, cursor: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The session and a page of its events, or the error page that explains why not."""
    try:
        session = await repo.get_session(session_id)
        return session, await _events_context(repo, session_id, event_name, cursor)
    except SessionNotFound as exc:
        raise PageError.no_session(session_id) from exc
    except InvalidCursor as exc:
        raise PageError(422, "Invalid cursor", str(exc)) from exc


@router.get("/sessions/{session_id}")
async def session_page(
    request: Request,
    session_id: str,
    repo: Repo,
    event_name: EventName = "",
    cursor: Cursor = None,
) -> Any:
    session, context = await _session_with_events(repo, session_id, event_name, cursor)
    context |= {
        "nav": "sessions",
        "session": ctx.session_row(session, now_us()),
        "state": session["state"],
        "state_digest": ctx.state_digest(session["state"]),
        "charts": await _charts(repo, session_id),
        "live_every": LIVE_EVERY,
        "history_shown": HISTORY_SHOWN,
        **await _state_context(repo, session_id),
    }
    return _page(request, "session.html", context)


@router.get("/ui/sessions/{session_id}/events")
async def session_events(
    request: Request,
    session_id: str,
    repo: Repo,
    event_name: EventName = "",
    cursor: Cursor = None,
) -> Any:
    """The events table alone: the name filter swaps it without touching the page."""
    session, context = await _session_with_events(repo, session_id, event_name, cursor)
    context["session"] = {"id": session["id"]}
    return _page(request, "_events.html", context)


@router.get("/ui/sessions/{session_id}/live")
async def session_live(
    request: Request,
    session_id: str,
    repo: Repo,
    event_name: EventName = "",
    known: Annotated[str, Query(max_length=64)] = "",
) -> Any:
    """Polled while the session is active; answers with out-of-band fragments only.

    Header, events and charts are always sent; the state tree and timeline only when the
    state differs from ``known`` (a digest of the state the page shows), so a tree the
    user has folded stays folded. Once the session is no longer active the answer is 286,
    which stops the polling after this last update.
    """
    session, context = await _session_with_events(repo, session_id, event_name, None)
    row = ctx.session_row(session, now_us())
    digest = ctx.state_digest(session["state"])
    context |= {
        "session": row,
        "charts": await _charts(repo, session_id),
        "state": session["state"],
        "state_digest": digest,
        "state_changed": digest != known,
    }
    if context["state_changed"]:
        context |= await _state_context(repo, session_id)
    return _page(request, "_session_live.html", context, 200 if row["live"] else STOP_POLLING)


# -- metrics explorer -----------------------------------------------------------------


@router.get("/metrics")
async def metrics_page(
    request: Request,
    repo: Repo,
    name: Annotated[str, Query(max_length=256)] = "",
    aggregation: Aggregation = Aggregation.all,
    state_mode: Annotated[str, Query(pattern="^(|none|current|ever|contains)$")] = "",
    state_path: Annotated[str, Query(max_length=512)] = "",
    state_value: Annotated[str, Query(max_length=1024)] = "",
    mode: Annotated[str, Query(pattern="^(|none|current|ever|contains)$")] = "",
    path: Annotated[str, Query(max_length=512)] = "",
    value: Annotated[str, Query(max_length=1024)] = "",
    since: Annotated[str, Query(max_length=64)] = "",
    until: Annotated[str, Query(max_length=64)] = "",
    bucket: Annotated[str, Query(pattern="^(|auto|1m|5m|1h|1d)$")] = "",
    group_by: Annotated[str, Query(max_length=80)] = "",
) -> Any:
    # The filter's parameters carry the API's names; the old ``mode``/``path``/``value``
    # stay as aliases so links made before issue 12 still open the same view.
    mode = state_mode or mode or "none"
    path = state_path or path
    value = state_value or value
    form = {
        "name": name,
        "aggregation": aggregation.value,
        "bucket": bucket,
        "group_by": group_by,
        "state_mode": mode,
        "state_path": path,
        "state_value": value,
        "since": since,
        "until": until,
    }
    chart = None
    error = None
    hint = ctx.explorer_hint(mode, path, value)
    if name:
        try:
            if ctx.has_nul(form):
                raise ValueError("the query may not contain NUL characters")
            state = None
            if mode != "none":
                state = state_filter(path or None, value or None, mode, partial=True)
            if group_by and not re.fullmatch(GROUP_BY_PATTERN, group_by):
                raise ValueError(
                    f"group by {group_by!r}: choose version, product or tag:KEY "
                    "(letters, digits, _ . -)"
                )
            query = SeriesQuery(
                name=name,
                aggregation=aggregation,
                state=state,
                since_us=ctx.parse_time(since),
                until_us=ctx.parse_time(until),
                limit=CHART_POINTS,
                bucket=Bucket(bucket) if bucket else None,
                group_by=group_by or None,
            )
            if bucket or group_by:
                chart = ctx.explorer_chart(
                    "series-chart", name, await repo.metric_explorer(query), bool(group_by)
                )
            else:
                chart = ctx.chart("series-chart", name, await repo.metric_series(query))
        except ValueError as exc:
            error = str(exc)
    context: dict[str, Any] = {"form": form, "chart": chart, "error": error, "hint": hint}
    if _is_htmx(request):
        response = _page(request, "_series.html", context)
        response.headers["HX-Push-Url"] = _url(
            "/metrics", urlencode({k: v for k, v in form.items() if v})
        )
        return response
    context |= {
        "nav": "metrics",
        "names": await repo.metric_names(),
        "examples": EXAMPLES,
        "aggregations": [a.value for a in Aggregation],
        "buckets": BUCKETS,
        "modes": MODES,
    }
    return _page(request, "metrics.html", context)


# -- releases -------------------------------------------------------------------------


@router.get("/releases")
async def releases_page(
    request: Request, repo: Repo, product: Annotated[str, Query(max_length=256)] = ""
) -> Any:
    """Release health per product and version, newest activity first (``/api/releases``)."""
    error = "the product may not contain NUL characters" if "\x00" in product else None
    rows: list[dict[str, Any]] = []
    if error is None:
        found = await repo.releases(ReleaseQuery(product=product.strip() or None))
        rows = [release_row(i, r) for i, r in enumerate(found)]
    context = {"nav": "releases", "product": product, "rows": rows, "error": error}
    return _page(request, "releases.html", context, 422 if error else 200)


# -- exceptions -----------------------------------------------------------------------


def _include_exceptions() -> None:
    """``datacat_web.exceptions`` uses this module's helpers, so it is imported last."""
    from datacat_web import exceptions

    router.include_router(exceptions.router)


_include_exceptions()
