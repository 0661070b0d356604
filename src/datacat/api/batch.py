"""``POST /api/batch``: many writes across sessions, in order, in one transaction."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from datacat.api import toops
from datacat.api.deps import Repo
from datacat.api.responses import json_response
from datacat.api.routing import FastJsonRoute
from datacat.api.schemas import (
    BatchIn,
    BatchOut,
    ErrorBody,
)
from datacat.api.sessions import Checked

router = APIRouter(prefix="/api", tags=["batch"], route_class=FastJsonRoute)


@router.post(
    "/batch",
    response_model=BatchOut,
    responses={
        413: {"model": ErrorBody, "description": "Body larger than DATACAT_MAX_BATCH_BYTES"},
        422: {
            "model": ErrorBody,
            "description": "Nothing written; `detail` lists each bad or over-limit item's "
            "`index` and why, or says the batch has more than DATACAT_MAX_BATCH_ITEMS items",
        },
    },
)
async def batch(body: BatchIn, repo: Repo, limits: Checked) -> Any:
    """Apply state, event, metric, heartbeat and end items in order, all or nothing.

    Events and metrics with an `id` already stored for their session count as duplicates
    and are skipped, so a client may resend a batch whose answer it never received.
    """
    ops = [toops.batch_item(item) for item in body.items]
    limits.check_batch(ops)
    result = await repo.write_batch(ops)
    if result.missing:
        raise HTTPException(
            422,
            [
                {"index": i, "loc": ["body", "items", i, "session_id"], "msg": "session not found"}
                for i in result.missing
            ],
        )
    return json_response(
        {"status": "ok", "accepted": result.accepted, "duplicates": result.duplicates}
    )
