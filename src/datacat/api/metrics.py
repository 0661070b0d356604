"""Metric names and the explorer's series query."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AfterValidator, BaseModel, Field

from datacat.api.deps import QueryText, QueryTime, Repo, StatePath, parse_state_filter
from datacat.api.responses import json_response
from datacat.api.schemas import NUL_FREE, ErrorBody, MetricNames, SeriesOut, SeriesPoint, no_nul
from datacat.store.metricquery import ExplorerResult
from datacat.store.seriesquery import Aggregation, Bucket, SeriesQuery
from datacat.store.statefilter import StateMode
from datacat.timefmt import maybe_us, to_rfc3339

router = APIRouter(prefix="/api/metrics", tags=["metrics"])

GROUP_BY_PATTERN = r"^(version|product|tag:[A-Za-z0-9_.\-]{1,64})$"


class BucketPoint(BaseModel):
    timestamp: str = Field(description="The bucket's start (UTC).")
    value: float


class BucketSeriesOut(BaseModel):
    """With `bucket` and no `group_by`: one point per time bucket across the sessions."""

    name: str
    aggregation: str
    bucket: str = Field(description="The width used: `1m`, `5m`, `1h` or `1d` (`auto` resolved).")
    points: list[BucketPoint]
    peak: float | None
    average: float | None
    min: float | None
    sessions_matched: int
    points_matched: int = Field(description="Buckets holding points.")
    truncated: bool


class SeriesGroupOut(BaseModel):
    group: str | None = Field(description="The version, product or tag value; null when unset.")
    points: list[SeriesPoint | BucketPoint]
    peak: float | None
    average: float | None
    min: float | None
    sessions_matched: int
    points_matched: int
    truncated: bool


class GroupedSeriesOut(BaseModel):
    """With `group_by`: one series per group, each shaped like the ungrouped answer."""

    name: str
    aggregation: str
    bucket: str | None
    group_by: str
    groups: list[SeriesGroupOut]


@router.get("/names", response_model=MetricNames)
async def names(repo: Repo) -> Any:
    return json_response({"names": await repo.metric_names()})


@router.get(
    "/series",
    response_model=SeriesOut | BucketSeriesOut | GroupedSeriesOut,
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
    bucket: Annotated[
        Bucket | None,
        Query(
            description="One point per time bucket: the `aggregation` over every matching "
            "point in it, across sessions (`all` means `avg` there); `auto` keeps the range to "
            "at most 300 points"
        ),
    ] = None,
    group_by: Annotated[
        str | None,
        Query(
            pattern=GROUP_BY_PATTERN,
            description="`version`, `product` or `tag:KEY` (a metric tag's value): one "
            "series per group under `groups`, `limit` points each",
        ),
    ] = None,
) -> Any:
    """Points of one metric across matching sessions, with peak, average and min.

    Statistics cover every matching point (or per-session value, or bucket); `points` holds
    the most recent `limit` of them, oldest first. Without `bucket` and `group_by` the
    answer is exactly the original shape.
    """
    query = SeriesQuery(
        name=name,
        aggregation=aggregation,
        state=parse_state_filter(state_path, state_value, state_mode),
        product=product,
        session_id=session_id,
        since_us=maybe_us(since),
        until_us=maybe_us(until),
        limit=limit,
        bucket=bucket,
        group_by=group_by,
    )
    if bucket is not None or group_by is not None:
        return json_response(
            _explorer_body(name, aggregation, group_by, await repo.metric_explorer(query))
        )
    result = await repo.metric_series(query)
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


def _explorer_body(
    name: str, aggregation: Aggregation, group_by: str | None, result: ExplorerResult
) -> dict[str, Any]:
    groups = [
        {
            "group": g.group,
            "points": [
                {
                    "timestamp": to_rfc3339(p["ts_us"]),
                    "value": p["value"],
                    **({"session_id": p["session_id"]} if "session_id" in p else {}),
                }
                for p in g.result.points
            ],
            "peak": g.result.peak,
            "average": g.result.average,
            "min": g.result.min,
            "sessions_matched": g.result.sessions_matched,
            "points_matched": g.result.points_matched,
            "truncated": g.result.truncated,
        }
        for g in result.groups
    ]
    bucket = None if result.bucket is None else result.bucket.value
    if group_by is not None:
        return {
            "name": name,
            "aggregation": aggregation.value,
            "bucket": bucket,
            "group_by": group_by,
            "groups": groups,
        }
    (only,) = groups
    only.pop("group")
    return {"name": name, "aggregation": aggregation.value, "bucket": bucket, **only}
