"""Grafana's JSON endpoints: the seed's export of every session, and what panels chart.

``deploy/grafana`` provisions an Infinity datasource and a dashboard whose panels read
these (and ``/api/releases``, ``/api/metrics/series``, ``/api/exceptions``); each answer
keeps its rows under one key so a panel's root selector is a single name.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, ConfigDict, Field

from datacat.api import documents
from datacat.api.deps import Filters, QueryText, QueryTime, Repo
from datacat.api.responses import document_response, json_response
from datacat.api.schemas import NUL_FREE, ErrorBody, SessionDetail
from datacat.store.seriesquery import Bucket
from datacat.store.statusseries import MAX_BUCKETS, StatusSeriesQuery
from datacat.timefmt import now_us, to_rfc3339, to_us

router = APIRouter(prefix="/api/grafana", tags=["grafana"])


@router.get(
    "/sessions",
    response_model=list[SessionDetail],
    responses={
        304: {"description": "Unchanged since the `If-None-Match` ETag"},
        422: {"model": ErrorBody, "description": "Invalid filter"},
    },
)
async def all_sessions(
    repo: Repo,
    filters: Filters,
    since: Annotated[
        QueryTime, Query(description="Sessions created at or after this time (RFC 3339).")
    ] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Any:
    """Every session object (oldest first), streamed so memory stays flat at any size."""
    if since is not None:
        filters = replace(filters, created_after_us=to_us(since))
    return document_response(await documents.export(repo, filters, limit, if_none_match))


DEFAULT_RANGE_MS = 24 * 3600 * 1000
LATEST_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z: the last moment RFC 3339 can write."""


class StatusRow(BaseModel):
    time: str = Field(description="The bucket's start (UTC, RFC 3339).")
    status: str = Field(description="`active`, `ended`, `crashed`, `hung` or `abandoned`.")
    count: int = Field(description="Sessions created in the bucket now in this status.")


class StatusSeriesOut(BaseModel):
    """Every bucket of the range with every status, zeros included, oldest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "bucket": "1h",
                    "rows": [
                        {"time": "2026-11-28T14:00:00.000000Z", "status": "active", "count": 2},
                        {"time": "2026-11-28T14:00:00.000000Z", "status": "ended", "count": 40},
                        {"time": "2026-11-28T14:00:00.000000Z", "status": "crashed", "count": 1},
                        {"time": "2026-11-28T14:00:00.000000Z", "status": "hung", "count": 0},
                        {"time": "2026-11-28T14:00:00.000000Z", "status": "abandoned", "count": 0},
                    ],
                    "truncated": False,
                }
            ]
        }
    )

    bucket: str = Field(description="The width used: `1m`, `5m`, `1h` or `1d` (`auto` resolved).")
    rows: list[StatusRow]
    truncated: bool = Field(
        description=f"The range held more than {MAX_BUCKETS} buckets: only the newest are here."
    )


EpochMs = Annotated[int | None, Query(ge=0, le=LATEST_MS)]


@router.get(
    "/status_series",
    response_model=StatusSeriesOut,
    responses={422: {"model": ErrorBody, "description": "Invalid parameters"}},
)
async def status_series(
    repo: Repo,
    product: Annotated[QueryText, Query(max_length=256, json_schema_extra=NUL_FREE)] = None,
    version: Annotated[QueryText, Query(max_length=256, json_schema_extra=NUL_FREE)] = None,
    from_ms: Annotated[
        EpochMs,
        Query(
            alias="from",
            description="Range start, milliseconds since the epoch (Grafana's `${__from}`); "
            "default: 24 hours before `to`.",
        ),
    ] = None,
    to_ms: Annotated[
        EpochMs,
        Query(
            alias="to",
            description="Range end (exclusive), milliseconds since the epoch (`${__to}`); "
            "default: now.",
        ),
    ] = None,
    bucket: Annotated[
        Bucket,
        Query(
            description="Bucket width; `auto` keeps the range to at most 300 buckets (a day "
            f"at most). Past {MAX_BUCKETS} buckets only the newest are answered."
        ),
    ] = Bucket.auto,
) -> Any:
    """Sessions by status over time: per bucket of *creation* time, how many of the sessions
    created then are in each status now (one row per bucket and status, zeros included).

    Empty `product`/`version` (a Grafana variable left blank) means any; `from` not before
    `to` is an empty range (no rows).
    """
    until_ms = now_us() // 1000 if to_ms is None else to_ms
    since_ms = max(until_ms - DEFAULT_RANGE_MS, 0) if from_ms is None else from_ms
    query = StatusSeriesQuery(
        since_us=since_ms * 1000,
        until_us=until_ms * 1000,
        bucket=bucket,
        product=product or None,
        version=version or None,
    )
    found = await repo.status_series(query)
    return json_response(
        {
            "bucket": found.bucket.value,
            "rows": [
                {"time": to_rfc3339(start), "status": status, "count": n}
                for start, status, n in found.rows
            ],
            "truncated": found.truncated,
        }
    )
