"""Metric names and the explorer's series query."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AfterValidator

from datacat.api.deps import QueryText, QueryTime, Repo, StatePath, parse_state_filter
from datacat.api.responses import json_response
from datacat.api.schemas import NUL_FREE, ErrorBody, MetricNames, SeriesOut, no_nul
from datacat.store.metricquery import Aggregation, SeriesQuery
from datacat.store.statefilter import StateMode
from datacat.timefmt import maybe_us, to_rfc3339

router = APIRouter(prefix="/api/metrics", tags=["metrics"])


@router.get("/names", response_model=MetricNames)
async def names(repo: Repo) -> Any:
    return json_response({"names": await repo.metric_names()})


@router.get(
    "/series",
    response_model=SeriesOut,
    responses={422: {"model": ErrorBody, "description": "Invalid parameters"}},
)
async def series(
    repo: Repo,
    name: Annotated[
        str, AfterValidator(no_nul), Query(min_length=1, max_length=256, json_schema_extra=NUL_FREE)
    ],
    aggregation: Annotated[
        Aggregation,
        Query(
            description="`all` points, or one statistic per session: `peak`, `avg`, `min`, "
            "`sum`, `count`, or a percentile `p50`/`p90`/`p95`/`p99` (linear interpolation "
            "between the closest ranks, as PostgreSQL's `percentile_cont`)"
        ),
    ] = Aggregation.all,
    state_path: StatePath = None,
    state_value: Annotated[QueryText, Query(max_length=1024, json_schema_extra=NUL_FREE)] = None,
    state_mode: StateMode = StateMode.current,
    product: Annotated[QueryText, Query(max_length=256, json_schema_extra=NUL_FREE)] = None,
    session_id: Annotated[QueryText, Query(max_length=64, json_schema_extra=NUL_FREE)] = None,
    since: QueryTime = None,
    until: QueryTime = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 5000,
) -> Any:
    """Points of one metric across matching sessions, with peak, average and min.

    Statistics cover every matching point (or per-session value); `points` holds the most
    recent `limit` of them, oldest first.
    """
    result = await repo.metric_series(
        SeriesQuery(
            name=name,
            aggregation=aggregation,
            state=parse_state_filter(state_path, state_value, state_mode),
            product=product,
            session_id=session_id,
            since_us=maybe_us(since),
            until_us=maybe_us(until),
            limit=limit,
        )
    )
    return json_response(
        {
            "name": name,
            "aggregation": aggregation.value,
            "points": [
                {
                    "timestamp": to_rfc3339(p["ts_us"]),
                    "value": p["value"],
                    "session_id": p["session_id"],
                }
                for p in result.points
            ],
            "peak": result.peak,
            "average": result.average,
            "min": result.min,
            "sessions_matched": result.sessions_matched,
            "points_matched": result.points_matched,
            "truncated": result.truncated,
        }
    )
