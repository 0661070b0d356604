"""Validated request bodies → write operations: one place, for the FastAPI routes, the
fast path and the batch items alike."""

from __future__ import annotations

from typing import Any

from datacat.api.schemas import (
    BatchEnd,
    BatchEvent,
    BatchHeartbeat,
    BatchMetric,
    BatchState,
    EndIn,
    EventIn,
    HeartbeatIn,
    MetricIn,
    SessionCreate,
)
from datacat.fingerprint import EXCEPTION_EVENT, exception_marks
from datacat.store.ids import new_session_id
from datacat.store.ops import (
    CreateSession,
    EndSession,
    Heartbeat,
    LogEvent,
    LogMetric,
    Op,
    UpdateState,
)
from datacat.store.plan import stored_json
from datacat.timefmt import maybe_us


def create(body: SessionCreate | None) -> CreateSession:
    body = body or SessionCreate()
    return CreateSession(
        session_id=new_session_id(),
        product=body.product,
        version=body.version,
        host=body.host,
        metadata=body.metadata,
        heartbeat_timeout_s=body.heartbeat_timeout,
    )


def event(session_id: str, body: EventIn) -> LogEvent:
    """The event's op; an ``exception`` event also gets its group's fingerprint (and
    whether it was fatal) here, so the routes, the fast path and the batch agree."""
    fingerprint, fatal = (
        exception_marks(body.name, body.data) if body.name == EXCEPTION_EVENT else (None, None)
    )
    return LogEvent(
        session_id,
        body.name,
        body.data,
        maybe_us(body.timestamp),
        body.id,
        body.level,
        body.message,
        body.category,
        body.labels,
        fingerprint,
        fatal,
        stored_json(body.data),
    )


def metric(session_id: str, body: MetricIn) -> LogMetric:
    """A histogram (the model checked ``buckets``, ``sum`` and ``count``) is stored as its
    mean, so readers that know nothing of buckets still see one number; an empty one
    (count 0) as 0."""
    if body.buckets is None:
        return LogMetric(
            session_id,
            body.name,
            body.value,
            body.tags,
            maybe_us(body.timestamp),
            body.id,
            body.kind,
            body.unit,
        )
    assert body.sum is not None and body.count is not None
    mean = body.sum / body.count if body.count else 0.0
    return LogMetric(
        session_id,
        body.name,
        mean,
        body.tags,
        maybe_us(body.timestamp),
        body.id,
        body.kind or "histogram",
        body.unit,
        body.count,
        tuple((bucket.le, bucket.count) for bucket in body.buckets),
    )


def heartbeat(session_id: str, body: HeartbeatIn | None) -> Heartbeat:
    return Heartbeat(session_id, None if body is None else body.timeout)


def end(session_id: str, body: EndIn | None) -> EndSession:
    return EndSession(session_id, crashed=body is not None and body.status == "crashed")


def batch_item(item: Any) -> Op:
    if isinstance(item, BatchEvent):
        return event(item.session_id, item)
    if isinstance(item, BatchMetric):
        return metric(item.session_id, item)
    if isinstance(item, BatchState):
        return UpdateState(item.session_id, item.state, maybe_us(item.timestamp), item.id)
    if isinstance(item, BatchHeartbeat):
        return heartbeat(item.session_id, item)
    if isinstance(item, BatchEnd):
        return end(item.session_id, item)
    raise TypeError(f"unknown batch item {type(item).__name__}")
