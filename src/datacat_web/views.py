"""The web UI's pages and the htmx partials that refresh parts of them.

Every page reads through the same ``Repository`` as the API: no HTTP round trip to
itself, and all filtering in SQL. A request from htmx (``HX-Request``) gets only the
fragment it swaps; the same URL without it gets the whole page, so every view can be
bookmarked and shared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from datacat.api.deps import Repo
from datacat.store.metricquery import Aggregation, SeriesQuery
from datacat.store.repository import InvalidCursor, SessionFilter, SessionNotFound
from datacat.store.statefilter import InvalidPath, StateFilter, StateMode
from datacat.store.status import STATUSES
from datacat.timefmt import now_us, to_rfc3339
from datacat_web import context as ctx

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

EVENTS_PER_PAGE = 200
CHART_POINTS = 2000
SESSIONS_PER_PAGE = 50
EXAMPLES = (
    {
        "title": "Peak memory for sessions with “space probe” window open",
        "query": "name=memory_usage&aggregation=peak&mode=contains"
        "&path=window_state.open&value=space+probe",
    },
    {
        "title": "CPU usage for currently running applications",
        "query": "name=cpu_usage&aggregation=all&mode=current&path=application.status"
        "&value=running",
    },
)


def _is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Any:
    return templates.TemplateResponse(request, name, context, status_code=status)


async def _dashboard_context(repo: Any) -> dict[str, Any]:
    now = now_us()
    counts = await repo.status_counts()
    events, metrics = await repo.logged_since(now - 3_600_000_000)
    recent = await repo.list_sessions(SessionFilter(), limit=10)
    return {
        "cards": ctx.dashboard_cards(counts, events, metrics),
        "recent": [ctx.session_row(row, now) for row in recent.items],
        "refreshed": ctx.display_time(now),
    }


@router.get("/")
async def dashboard(request: Request, repo: Repo) -> Any:
    return _page(request, "dashboard.html", {"nav": "dashboard", **await _dashboard_context(repo)})


@router.get("/ui/dashboard")
async def dashboard_live(request: Request, repo: Repo) -> Any:
    """Polled by the dashboard: counts, rates and recent sessions, without a reload."""
    return _page(request, "_dashboard.html", await _dashboard_context(repo))


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
        "sortable": ctx.SORTABLE,
        "statuses": STATUSES,
        "modes": [mode.value for mode in StateMode],
    }
    template = "_sessions_table.html" if _is_htmx(request) else "sessions.html"
    return _page(request, template, context, 422 if query.error else 200)


async def _detail_context(
    repo: Any, session_id: str, event_name: str | None, cursor: str | None
) -> dict[str, Any]:
    session = await repo.get_session(session_id)
    now = now_us()
    events = await repo.list_events(
        session_id, name=event_name or None, cursor=cursor, limit=EVENTS_PER_PAGE
    )
    return {
        "session": ctx.session_row(session, now),
        "labels": {
            "metadata": session["metadata"],
            "heartbeat_timeout": session["heartbeat_timeout_s"],
        },
        "state": session["state"],
        "events": [ctx.event_row(e) for e in events.items],
        "events_next": events.next_cursor,
        "event_name": event_name or "",
    }


@router.get("/sessions/{session_id}")
async def session_page(
    request: Request,
    session_id: str,
    repo: Repo,
    event_name: Annotated[str | None, Query(max_length=256)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Any:
    try:
        context = await _detail_context(repo, session_id, event_name, cursor)
    except (SessionNotFound, InvalidCursor):
        return _page(request, "not_found.html", {"nav": "sessions", "session_id": session_id}, 404)
    if _is_htmx(request):
        return _page(request, "_session_live.html", context)
    history = await repo.state_history(session_id, limit=500)
    charts = []
    for name in await repo.metric_names_for(session_id):
        series = await repo.metric_series(
            SeriesQuery(name=name, session_id=session_id, limit=CHART_POINTS)
        )
        charts.append(_chart(name, series))
    context |= {
        "nav": "sessions",
        "history": [
            {"time": ctx.display_time(item["ts_us"]), "patch": item["patch"]}
            for item in history.items
        ],
        "charts": charts,
    }
    return _page(request, "session.html", context)


def _chart(name: str, series: Any) -> dict[str, Any]:
    return {
        "name": name,
        "points": [
            {"t": to_rfc3339(p["ts_us"]), "v": p["value"], "s": p["session_id"]}
            for p in series.points
        ],
        "peak": series.peak,
        "average": series.average,
        "min": series.min,
        "sessions": series.sessions_matched,
        "count": series.points_matched,
        "truncated": series.truncated,
    }


@router.get("/metrics")
async def metrics_page(
    request: Request,
    repo: Repo,
    name: Annotated[str, Query(max_length=256)] = "",
    aggregation: Aggregation = Aggregation.all,
    mode: Annotated[str, Query(pattern="^(none|current|ever|contains)$")] = "none",
    path: Annotated[str, Query(max_length=512)] = "",
    value: Annotated[str, Query(max_length=1024)] = "",
    since: Annotated[str, Query(max_length=64)] = "",
    until: Annotated[str, Query(max_length=64)] = "",
) -> Any:
    form = {
        "name": name,
        "aggregation": aggregation.value,
        "mode": mode,
        "path": path,
        "value": value,
        "since": since,
        "until": until,
    }
    chart = None
    error = None
    if name:
        try:
            state = None
            if mode != "none" and path:
                state = StateFilter.build(path, value, StateMode(mode))
            if any("\x00" in text for text in form.values()):
                raise ValueError("the query may not contain NUL characters")
            series = await repo.metric_series(
                SeriesQuery(
                    name=name,
                    aggregation=aggregation,
                    state=state,
                    since_us=ctx.parse_time(since),
                    until_us=ctx.parse_time(until),
                    limit=CHART_POINTS,
                )
            )
        except (InvalidPath, ValueError) as exc:
            error = str(exc)
        else:
            chart = _chart(name, series)
    context = {"form": form, "chart": chart, "error": error}
    if _is_htmx(request):
        return _page(request, "_series.html", context)
    context |= {
        "nav": "metrics",
        "names": await repo.metric_names(),
        "examples": EXAMPLES,
        "aggregations": [a.value for a in Aggregation],
        "modes": [
            ("none", "No filter"),
            ("current", "Current state"),
            ("ever", "State history (ever)"),
            ("contains", "State array contains"),
        ],
    }
    return _page(request, "metrics.html", context)
