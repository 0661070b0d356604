"""``POST /api/batch``: many writes across sessions, in order, in one transaction."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from datacat.api.deps import Repo, get_settings
from datacat.api.responses import json_response
from datacat.api.routing import FastJsonRoute
from datacat.api.schemas import (
    BatchEnd,
    BatchEvent,
    BatchHeartbeat,
    BatchIn,
    BatchMetric,
    BatchOut,
    BatchState,
    ErrorBody,
)
from datacat.store.ops import EndSession, Heartbeat, LogEvent, LogMetric, Op, UpdateState
from datacat.timefmt import maybe_us

router = APIRouter(prefix="/api", tags=["batch"], route_class=FastJsonRoute)


def to_op(item: Any) -> Op:
    if isinstance(item, BatchEvent):
        return LogEvent(item.session_id, item.name, item.data, maybe_us(item.timestamp), item.id)
    if isinstance(item, BatchMetric):
        return LogMetric(
            item.session_id, item.name, item.value, item.tags, maybe_us(item.timestamp), item.id
        )
    if isinstance(item, BatchState):
        return UpdateState(item.session_id, item.state, maybe_us(item.timestamp), item.id)
    if isinstance(item, BatchHeartbeat):
        return Heartbeat(item.session_id, item.timeout)
    if isinstance(item, BatchEnd):
        return EndSession(item.session_id, crashed=item.status == "crashed")
    raise TypeError(f"unknown batch item {type(item).__name__}")


@router.post(
    "/batch",
    response_model=BatchOut,
    responses={
        413: {"model": ErrorBody, "description": "Body larger than DATACAT_MAX_BATCH_BYTES"},
        422: {
            "model": ErrorBody,
            "description": "Nothing written; `detail` lists each bad item's `index` and why",
        },
    },
)
async def batch(body: BatchIn, repo: Repo, request: Request) -> Any:
    """Apply state, event, metric, heartbeat and end items in order, all or nothing.

    Events and metrics with an `id` already stored for their session count as duplicates
    and are skipped, so a client may resend a batch whose answer it never received.
    """
    limit = get_settings(request).max_batch_items
    if len(body.items) > limit:
        raise HTTPException(422, f"a batch holds at most {limit} items; got {len(body.items)}")
    ops = [to_op(item) for item in body.items]
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
