"""``GET /-/metrics``: Prometheus's scrape (the web UI owns ``/metrics``)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Response

from datacat import promstats
from datacat.api.deps import Repo, get_settings
from datacat.api.schemas import ErrorBody
from datacat.scopes import PROMETHEUS_PATH
from datacat.settings import Settings
from datacat.store.vitals import read_vitals

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])

_EXAMPLE = """\
# TYPE datacat_http_requests_total counter
datacat_http_requests_total{method="POST",route="/api/batch",status="200"} 1523.0
# TYPE datacat_writer_queue_depth gauge
datacat_writer_queue_depth 0.0
# TYPE datacat_sessions gauge
datacat_sessions{product="editor",status="crashed"} 3.0
datacat_sessions{product="editor",status="ended"} 412.0
# TYPE datacat_release_sessions_24h gauge
datacat_release_sessions_24h{product="editor",status="crashed",version="2.1.0"} 1.0
# TYPE datacat_database_up gauge
datacat_database_up 1.0
"""


@router.get(
    PROMETHEUS_PATH,
    response_class=Response,
    summary="Prometheus metrics",
    responses={
        200: {
            "description": "The Prometheus text format (0.0.4). Needs a read key once auth is on.",
            "content": {
                promstats.CONTENT_TYPE: {"schema": {"type": "string"}, "example": _EXAMPLE}
            },
        },
        401: {
            "model": ErrorBody,
            "description": "No API key, or an unknown or revoked one (auth on).",
        },
        403: {"model": ErrorBody, "description": "An ingest key: scraping needs the read scope."},
    },
    openapi_extra={"security": [{"bearer": []}]},
)
async def prometheus_metrics(repo: Repo, settings: Settings = Depends(get_settings)) -> Response:
    """Requests by route template and status, latency, the writer's groups, queue and rows,
    sweeper runs, sessions by product and status and by recent release, database size.
    With several workers, every worker's counts summed."""
    try:
        vitals = await read_vitals(
            repo.engine, settings.metrics_top_products, settings.metrics_top_releases
        )
    except Exception:  # the counts this process holds are worth a scrape even so
        log.exception("could not read sessions and database size for /-/metrics")
        vitals = None
    body = promstats.exposition(vitals, repo.writer.queue_depth)
    return Response(content=body, media_type=promstats.CONTENT_TYPE)
