"""Request and response models — what ``/docs`` shows and what every body is checked against."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import FastAPI
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    WithJsonSchema,
)

from datacat.api import examples
from datacat.histogram import MAX_BUCKETS, MAX_COUNT, problem
from datacat.jsoncheck import check_field

NO_NUL = "^[^\\u0000]*$"
"""Declared on every text field (as ``pattern``) for what ``no_nul`` and ``check_json`` enforce."""
NUL_FREE: dict[str, Any] = {"pattern": NO_NUL}


def no_nul(value: str | None) -> str | None:
    """PostgreSQL refuses NUL in text where SQLite stores it; refuse it on both (422)."""
    if value is not None and "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


# JSON values may nest anything JSON holds, except what PostgreSQL cannot store (a NUL in a
# string or key; non-finite numbers cannot be written in JSON at all). The schema says so
# with one recursive definition, added to the document's components by ``document``.
_JSON_VALUE_MARK = "x-datacat-json-value"
JSON_VALUE_REF: dict[str, Any] = {_JSON_VALUE_MARK: True}
JSON_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "propertyNames": NUL_FREE,
    "additionalProperties": JSON_VALUE_REF,
}
JSON_VALUE_SCHEMA: dict[str, Any] = {
    "title": "JsonValue",
    "description": "Any JSON value; no string or key may contain a NUL character.",
    "anyOf": [
        {"type": "string", **NUL_FREE},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "items": JSON_VALUE_REF},
        JSON_OBJECT_SCHEMA,
    ],
}

# An event's or metric's name: its length is one of the limits (``datacat.limits``), checked
# there so the answer names DATACAT_MAX_NAME_LENGTH; the schema states the default, which
# is also the column's width and the setting's maximum.
Name = Annotated[
    str,
    Field(min_length=1, json_schema_extra={"maxLength": 256, **NUL_FREE}),
    AfterValidator(no_nul),
]
Label = Annotated[str, Field(max_length=256, json_schema_extra=NUL_FREE), AfterValidator(no_nul)]
ClientId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="Client-made id; a repeat is ignored.",
        json_schema_extra=NUL_FREE,
    ),
    AfterValidator(no_nul),
]
JsonValue = Annotated[Any, AfterValidator(check_field), WithJsonSchema(JSON_VALUE_REF)]
JsonObject = Annotated[
    dict[str, Any], AfterValidator(check_field), WithJsonSchema(JSON_OBJECT_SCHEMA)
]
FiniteNumber = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Timeout = Annotated[float, Strict(), Field(gt=0, le=365 * 86400, allow_inf_nan=False)]
Tags = Annotated[
    list[Label] | dict[str, Any] | None,
    AfterValidator(check_field),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "array", "items": {"type": "string", "maxLength": 256, **NUL_FREE}},
                JSON_OBJECT_SCHEMA,
                {"type": "null"},
            ]
        }
    ),
]


MetricKind = Literal["gauge", "counter", "timer", "histogram"]
EventLevel = Literal["debug", "info", "warning", "error", "critical"]
Unit = Annotated[
    str,
    Field(min_length=1, max_length=64, json_schema_extra=NUL_FREE),
    AfterValidator(no_nul),
]
MAX_MESSAGE = 8192
"""An event's message is one log line, not a document: ``data`` carries anything larger."""
Message = Annotated[
    str, Field(max_length=MAX_MESSAGE, json_schema_extra=NUL_FREE), AfterValidator(no_nul)
]
Labels = Annotated[
    list[Label],
    Field(description="Free-form labels; as many as a metric's tags (DATACAT_MAX_METRIC_TAGS)."),
]


def rfc3339_text(value: Any) -> Any:
    """Pydantic would read a number (or a numeric string) as Unix time; the contract (and the
    seed's Go decoder) says RFC 3339 text. Found by schemathesis: ``"timestamp": 0`` and
    ``?since=0.5`` were accepted although the schema declares ``format: date-time``.
    """
    if value is None or (type(value) is str and value[4:5] == "-"):
        return value
    raise ValueError("must be an RFC 3339 date-time string, e.g. 2026-01-01T00:00:00Z")


Timestamp = Annotated[
    datetime | None,
    BeforeValidator(rfc3339_text),
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
    level: EventLevel | None = Field(default=None, description="Default: info.")
    message: Message | None = None
    category: Label | None = None
    labels: Labels | None = None


def _whole_number(value: Any) -> Any:
    """JSON Schema's ``integer`` includes ``5.0``; Strict() still refuses text and floats
    with a fraction."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


# The validator last: placed before Field(), the bounds left the schema as ge/le keys.
ObservationCount = Annotated[
    int, Strict(), Field(ge=0, le=MAX_COUNT), BeforeValidator(_whole_number)
]


def _value_or_buckets(schema: dict[str, Any]) -> None:
    """What ``MetricIn._value_optional_with_buckets`` lets through, in the schema: ``value``
    is required unless ``buckets`` (a list) is given."""
    required = schema.get("required", [])
    if "value" in required:
        required.remove("value")
    schema["anyOf"] = [
        {"required": ["value"]},
        {"required": ["buckets"], "properties": {"buckets": {"type": "array"}}},
    ]


class HistogramBucket(RequestModel):
    le: FiniteNumber | None = Field(
        description="The bucket's upper bound (inclusive); null is +Inf, last only."
    )
    count: ObservationCount = Field(
        description="Observations in (previous le, le]: this bucket's own, not cumulative."
    )


def _value_unless_buckets(data: dict[str, Any]) -> float | None:
    """``value``'s default: a placeholder with buckets (the mean is stored), else None,
    which fails validation at ``value`` as a missing number did. A default factory costs
    nothing when ``value`` is sent, where a model validator cost every metric ~0.6 µs."""
    return 0.0 if data.get("buckets") is not None else None


def _histogram_rules(
    buckets: list[HistogramBucket] | None, info: ValidationInfo
) -> list[HistogramBucket] | None:
    """``datacat.histogram.problem`` on a body with buckets (only then does this run);
    ``kind``, ``sum`` and ``count`` are declared before ``buckets`` so they are here."""
    if buckets is None:
        return None
    if info.data.get("kind") not in (None, "histogram"):
        raise ValueError('only with kind "histogram"')
    found = problem(
        [(b.le, b.count) for b in buckets], info.data.get("sum"), info.data.get("count")
    )
    if found is not None:
        raise ValueError(f"{found.field}: {found.message}")
    return buckets


class MetricIn(RequestModel):
    """A point, or with ``buckets`` a pre-aggregated histogram (``datacat.histogram``):
    stored as its mean (``sum / count``) with the count beside it and the buckets apart, so
    percentiles interpolate within buckets and sum/count/avg weigh it by ``count``.

    The histogram rules run only for a body with buckets (a field validator), and
    ``value``'s absence only when it is absent (a default factory): a plain metric costs
    what it did before histograms. Without buckets, ``sum`` and ``count`` mean nothing and
    are ignored (``api.toops``), like any field the model does not know; with buckets,
    ``kind`` defaults to histogram."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=_value_or_buckets)

    name: Name
    tags: Tags = None
    timestamp: Timestamp = None
    id: ClientId | None = None
    kind: MetricKind | None = Field(
        default=None,
        description="gauge (default: a sampled value), counter (a delta), timer (a duration), "
        "histogram (an observation, or with `buckets` many; the default with `buckets`).",
    )
    unit: Unit | None = Field(default=None, description="Free text, e.g. ms, bytes, %.")
    sum: FiniteNumber | None = Field(
        default=None, description="With `buckets`: the total.", examples=[12345.6]
    )
    count: ObservationCount | None = Field(
        default=None, description="With `buckets`: the number of observations.", examples=[1000]
    )
    buckets: Annotated[
        Annotated[list[HistogramBucket], Field(min_length=1, max_length=MAX_BUCKETS)] | None,
        AfterValidator(_histogram_rules),
    ] = Field(
        default=None,
        description=f"kind histogram only: at most {MAX_BUCKETS} buckets, `le` strictly "
        "increasing, counts adding up to `count`; percentiles interpolate within them.",
        examples=[
            [{"le": 16.7, "count": 950}, {"le": 33.3, "count": 40}, {"le": None, "count": 10}]
        ],
    )
    value: FiniteNumber = Field(
        default_factory=_value_unless_buckets,
        validate_default=True,
        description="Required, except with `buckets` (the mean `sum / count` is stored then).",
    )


class EndIn(RequestModel):
    status: Literal["ended", "crashed"] = "ended"


class HeartbeatIn(RequestModel):
    timeout: Timeout | None = None


class SessionCreated(BaseModel):
    session_id: str


class StatusOK(BaseModel):
    status: Literal["ok"] = "ok"


KeyName = Annotated[
    str,
    Field(min_length=1, max_length=128, pattern="^[A-Za-z0-9._:@-]+$"),
]
"""Letters, digits and ``._:@-``: a name is typed on command lines (``keys revoke NAME``)."""


class KeyCreate(RequestModel):
    scope: Literal["ingest", "read", "admin"]
    name: KeyName | None = Field(default=None, description="Default: the key's prefix.")


class KeyCreated(BaseModel):
    key: str = Field(description="The key itself: shown once, only its hash is stored.")
    prefix: str
    name: str
    scope: str


class KeyOut(BaseModel):
    prefix: str
    name: str
    scope: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class KeyList(BaseModel):
    items: list[KeyOut]


class ErrorBody(BaseModel):
    detail: Any


class EventOut(BaseModel):
    timestamp: str
    name: str
    data: Any = None
    level: EventLevel = "info"
    message: str | None = None
    category: str | None = None
    labels: list[str] | None = None


class MetricOut(BaseModel):
    timestamp: str
    name: str
    value: float
    tags: Any = None
    kind: MetricKind = "gauge"
    unit: str | None = None


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


class HistogramRecord(MetricRecord):
    """A pre-aggregated histogram (sent with `buckets`): `value` is its mean, `count` and
    `buckets` are what was sent. Its `sum` is not stored; `value * count` gives it back up
    to floating-point rounding."""

    kind: Literal["histogram"] = "histogram"
    count: ObservationCount = Field(description="The number of observations, as sent.")
    buckets: list[HistogramBucket] = Field(
        description="As sent: `le` ascending, +Inf (null) last; each bucket's own count."
    )


class MetricPage(BaseModel):
    items: list[MetricRecord | HistogramRecord] = Field(
        description="A pre-aggregated histogram's item also carries `count` and `buckets`."
    )
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


SessionRef = Annotated[
    str, Field(min_length=1, max_length=64, json_schema_extra=NUL_FREE), AfterValidator(no_nul)
]


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


def document(app: FastAPI) -> None:
    """Serve ``app``'s OpenAPI document with the recursive ``JsonValue`` definition.

    Pydantic cannot emit a recursive schema for ``Any`` nor accept a ``$ref`` to one it
    does not know, so the models carry a mark where a JSON value goes; here, once, the
    marks become ``$ref``s and the definition joins the document FastAPI builds and caches.
    """
    build = app.openapi
    built: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not built:
            # A copy: pydantic puts the very mark dicts of this module into the document.
            schema = copy.deepcopy(build())
            definitions = schema.setdefault("components", {}).setdefault("schemas", {})
            definitions["JsonValue"] = copy.deepcopy(JSON_VALUE_SCHEMA)
            _resolve_marks(schema)
            _declare_access(schema)
            examples.attach(schema)
            built.update(schema)
            app.openapi_schema = built
        return built

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented extension point


_ACCESS_ANSWERS = {
    "401": "No API key, or an unknown or revoked one (only once auth is on: see `datacat "
    "keys`). Carries `WWW-Authenticate: Bearer`.",
    "403": "The key's scope does not allow this (ingest writes, read reads, admin both).",
}


def _declare_access(schema: dict[str, Any]) -> None:
    """Every ``/api`` operation takes a Bearer key and may answer 401/403; saying so once
    here keeps ninety route decorators free of it, and gives ``/docs`` its Authorize
    button."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key from `datacat keys create`; needed once any key exists.",
    }
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    components.setdefault("schemas", {}).setdefault(
        "ErrorBody", ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for operation in operations.values():
            operation["security"] = [{"bearer": []}]
            answers = operation.setdefault("responses", {})
            for status, description in _ACCESS_ANSWERS.items():
                answers.setdefault(status, {"description": description, "content": error})


def _resolve_marks(node: Any) -> None:
    if isinstance(node, dict):
        if node.pop(_JSON_VALUE_MARK, False):
            node["$ref"] = "#/components/schemas/JsonValue"
        for value in node.values():
            _resolve_marks(value)
    elif isinstance(node, list):
        for value in node:
            _resolve_marks(value)


class ReleaseDay(BaseModel):
    day: str = Field(description="UTC day the sessions were created, `YYYY-MM-DD`.")
    sessions: int
    crashed: int
    crash_free_rate: float


class ReleaseOut(BaseModel):
    product: str | None
    version: str | None
    sessions: int
    active: int
    ended: int
    crashed: int
    hung: int = Field(description="Sessions whose current status is hung.")
    abandoned: int
    crash_free_rate: float = Field(description="Share of sessions not crashed, 0..1.")
    hang_free_rate: float = Field(description="Share of sessions not currently hung, 0..1.")
    median_duration_s: float | None = Field(
        description="Median of ended and crashed sessions' end minus start; null if none."
    )
    first_seen: str = Field(description="Earliest session start.")
    last_seen: str = Field(description="Latest sign of life of any of its sessions.")
    daily: list[ReleaseDay] = Field(description="Oldest first: the latest `days` with sessions.")


_RELEASE_EXAMPLE: dict[str, Any] = {
    "product": "probe-app",
    "version": "1.4.0",
    "sessions": 200,
    "active": 3,
    "ended": 180,
    "crashed": 10,
    "hung": 1,
    "abandoned": 6,
    "crash_free_rate": 0.95,
    "hang_free_rate": 0.995,
    "median_duration_s": 812.5,
    "first_seen": "2026-11-01T08:00:00.000000Z",
    "last_seen": "2026-11-28T17:42:10.123456Z",
    "daily": [
        {"day": "2026-11-27", "sessions": 12, "crashed": 1, "crash_free_rate": 0.9166666666666666},
        {"day": "2026-11-28", "sessions": 9, "crashed": 0, "crash_free_rate": 1.0},
    ],
}


class ReleaseList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_RELEASE_EXAMPLE]}]})

    items: list[ReleaseOut]
