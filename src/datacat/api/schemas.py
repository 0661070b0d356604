"""Request and response models — what ``/docs`` shows and what every body is checked against."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict

from datacat.jsoncheck import check_json


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


Name = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_no_nul)]
Label = Annotated[str, Field(max_length=256), AfterValidator(_no_nul)]
ClientId = Annotated[
    str,
    Field(min_length=1, max_length=64, description="Client-made id; a repeat is ignored."),
    AfterValidator(_no_nul),
]
JsonValue = Annotated[Any, AfterValidator(check_json)]
JsonObject = Annotated[dict[str, Any], AfterValidator(check_json)]
FiniteNumber = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Timeout = Annotated[float, Strict(), Field(gt=0, le=365 * 86400, allow_inf_nan=False)]
Tags = Annotated[list[Label] | dict[str, Any] | None, AfterValidator(check_json)]
Timestamp = Annotated[
    datetime | None,
    Field(description="When it happened (RFC 3339; default: when the server received it)."),
]


class RequestModel(BaseModel):
    """Request bodies: unknown fields are ignored, as the seed's Go decoder did."""

    model_config = ConfigDict(extra="ignore")


class SessionCreate(RequestModel):
    product: Label | None = None
    version: Label | None = None
    host: Label | None = None
    metadata: JsonObject | None = None
    heartbeat_timeout: Timeout | None = Field(
        default=None,
        description="Seconds without a keep-alive after which the session counts as abandoned.",
    )


class EventIn(RequestModel):
    name: Name
    data: JsonValue = None
    timestamp: Timestamp = None
    id: ClientId | None = None


class MetricIn(RequestModel):
    name: Name
    value: FiniteNumber
    tags: Tags = None
    timestamp: Timestamp = None
    id: ClientId | None = None


class EndIn(RequestModel):
    status: Literal["ended", "crashed"] = "ended"


class HeartbeatIn(RequestModel):
    timeout: Timeout | None = None


class SessionCreated(BaseModel):
    session_id: str


class StatusOK(BaseModel):
    status: Literal["ok"] = "ok"


class ErrorBody(BaseModel):
    detail: Any


class EventOut(BaseModel):
    timestamp: str
    name: str
    data: Any = None


class MetricOut(BaseModel):
    timestamp: str
    name: str
    value: float
    tags: Any = None


class SessionSummary(BaseModel):
    id: str
    created_at: str
    updated_at: str
    ended_at: str | None = None
    last_seen_at: str
    active: bool
    status: Literal["active", "ended", "hung", "crashed", "abandoned"]
    product: str | None = None
    version: str | None = None
    host: str | None = None
    metadata: dict[str, Any] | None = None
    heartbeat_timeout: float | None = None
    state: dict[str, Any]


class SessionDetail(SessionSummary):
    """The seed's session object (id … metrics) plus datacat's additions."""

    events: list[EventOut]
    metrics: list[MetricOut]


class SessionPage(BaseModel):
    items: list[SessionSummary]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class EventRecord(EventOut):
    id: int


class MetricRecord(MetricOut):
    id: int


class EventPage(BaseModel):
    items: list[EventRecord]
    next_cursor: str | None


class MetricPage(BaseModel):
    items: list[MetricRecord]
    next_cursor: str | None


class StatePatch(BaseModel):
    id: int
    timestamp: str
    patch: dict[str, Any]


class StateHistoryPage(BaseModel):
    items: list[StatePatch]
    next_cursor: str | None


class SeriesPoint(BaseModel):
    timestamp: str
    value: float
    session_id: str


class SeriesOut(BaseModel):
    name: str
    aggregation: str
    points: list[SeriesPoint]
    peak: float | None
    average: float | None
    min: float | None
    sessions_matched: int
    points_matched: int
    truncated: bool = Field(description="True when more points matched than `limit` returned.")


class MetricNames(BaseModel):
    names: list[str]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ok"] = "ok"
    database: str


SessionRef = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_no_nul)]


class BatchState(RequestModel):
    op: Literal["state"]
    session_id: SessionRef
    state: JsonObject
    timestamp: Timestamp = None
    id: ClientId | None = None


class BatchEvent(EventIn):
    op: Literal["event"]
    session_id: SessionRef


class BatchMetric(MetricIn):
    op: Literal["metric"]
    session_id: SessionRef


class BatchHeartbeat(HeartbeatIn):
    op: Literal["heartbeat"]
    session_id: SessionRef


class BatchEnd(EndIn):
    op: Literal["end"]
    session_id: SessionRef


BatchItem = Annotated[
    BatchState | BatchEvent | BatchMetric | BatchHeartbeat | BatchEnd,
    Field(discriminator="op"),
]


class BatchIn(RequestModel):
    items: list[BatchItem] = Field(
        description="Applied in order, in one transaction; all or nothing.",
    )


class BatchOut(BaseModel):
    status: Literal["ok"] = "ok"
    accepted: int = Field(description="Items stored (or applied, for state/heartbeat/end).")
    duplicates: int = Field(description="Events/metrics whose `id` was already stored.")
