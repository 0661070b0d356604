"""Release health: per product and version, how its sessions went."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query

from datacat.api.deps import QueryText, Repo
from datacat.api.responses import json_response
from datacat.api.schemas import NUL_FREE, ErrorBody, ReleaseList
from datacat.store.releases import DAY_US, Release, ReleaseQuery
from datacat.timefmt import to_rfc3339

router = APIRouter(prefix="/api/releases", tags=["releases"])


@router.get(
    "",
    response_model=ReleaseList,
    responses={422: {"model": ErrorBody, "description": "Invalid parameters"}},
)
async def releases(
    repo: Repo,
    product: Annotated[QueryText, Query(max_length=256, json_schema_extra=NUL_FREE)] = None,
    days: Annotated[int, Query(ge=1, le=366, description="Days in each daily series.")] = 30,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Any:
    """Crash-free and hang-free rates, status counts and median duration per version.

    Newest activity first; `hung` is the current status (a session that recovered counts
    as active again).
    """
    found = await repo.releases(ReleaseQuery(product=product, limit=limit, days=days))
    return json_response({"items": [release_out(r) for r in found]})


def release_out(release: Release) -> dict[str, Any]:
    median = release.median_duration_us
    return {
        "product": release.product,
        "version": release.version,
        "sessions": release.sessions,
        **release.counts,
        "crash_free_rate": release.crash_free_rate,
        "hang_free_rate": release.hang_free_rate,
        "median_duration_s": None if median is None else median / 1_000_000,
        "first_seen": to_rfc3339(release.first_seen_us),
        "last_seen": to_rfc3339(release.last_seen_us),
        "daily": [
            {
                "day": day_text(day),
                "sessions": n,
                "crashed": crashed,
                "crash_free_rate": 1 - crashed / n,
            }
            for day, n, crashed in release.daily
        ],
    }


def day_text(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * (DAY_US // 1_000_000)))
