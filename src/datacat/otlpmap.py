"""OpenTelemetry export requests → datacat write operations — pure, no I/O.

The rules (issue 13, item 1):

- **Sessions.** A ``session.id`` attribute (the record's, else the resource's) names the
  session: a UUID is used as it is, anything else becomes a stable UUIDv5 of it. Without
  one, a resource is one session: a UUIDv5 of its attributes (``service.instance.id``
  among them, which an SDK should set once per process start). Each session comes with
  the ``CreateSession`` that opens it on first sight: ``service.name`` → product,
  ``service.version`` → version, ``host.name`` → host, the resource's attributes as
  metadata.
- **Logs → events.** Name from ``event.name`` (attribute or field), else the logger (the
  instrumentation scope), else ``log``; severity → level; a string body → message, any
  other body → ``data.body``; attributes → data. A record carrying ``exception.*``
  attributes becomes an event named ``exception`` with ``{type, message, traceback}``,
  the shape the server fingerprints into groups (``datacat.fingerprint``).
- **Metrics.** Gauges → ``gauge``; monotonic sums → ``counter`` deltas (a cumulative
  series is turned into deltas against the last point seen, see :class:`SeriesMemory`);
  non-monotonic cumulative sums are a current value, so ``gauge``; histograms (explicit,
  and exponential ones as explicit buckets) → a pre-aggregated ``histogram`` of the new
  observations (buckets, sum and count since the last point; ``datacat.histogram``); a
  summary, which has no buckets, → its mean as one ``histogram`` observation. A
  cumulative point that adds nothing (an exporter re-sends every series on every
  interval) is not stored. Data point attributes → tags
  ``key=value``.
- **Retries never duplicate.** Every op carries a client id hashed from the record as
  sent (with its resource and scope), so an exporter's resend is recognised as a repeat.

Every event and metric is built through ``api.toops`` from the API's own models, so it is
validated, limited and fingerprinted exactly like one sent to ``/api``. A record that
cannot be stored is counted and described, never fatal to the rest: OTLP's partial
success.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_CUMULATIVE,
    AGGREGATION_TEMPORALITY_DELTA,
    Metric,
)
from pydantic import ValidationError

from datacat.api import toops
from datacat.api.schemas import MAX_MESSAGE, EventIn, MetricIn
from datacat.fingerprint import EXCEPTION_EVENT
from datacat.histogram import MAX_BUCKETS
from datacat.limits import Limits
from datacat.store.ops import CreateSession, LogEvent, LogMetric
from datacat.timefmt import to_rfc3339

__all__ = [
    "NAMESPACE",
    "Mapped",
    "SeriesMemory",
    "level_of",
    "map_logs",
    "map_metrics",
    "session_id_for",
]

NAMESPACE = uuid.UUID("7c0b8a5e-3f1d-4c55-9a8e-2d6c1b0f9e41")
"""The UUIDv5 namespace of sessions derived from OTLP: fixed forever, so the same
``session.id`` or resource maps to the same session in every process and release."""

SESSION_ATTRIBUTE = "session.id"
_LABEL = 256  # the width of product/version/host and of a tag
_MAX_ERRORS = 5  # problems quoted in a partial success; the count covers them all


@dataclass(slots=True)
class Mapped:
    """What one export request becomes: the ops to write, the session each op needs,
    and the records that could not be mapped (counted, a few described)."""

    ops: list[LogEvent | LogMetric] = field(default_factory=list)
    sessions: dict[str, CreateSession] = field(default_factory=dict)
    rejected: int = 0
    problems: list[str] = field(default_factory=list)
    series: dict[SeriesKey, SeriesPoint] = field(default_factory=dict)
    """Cumulative series' latest points, to remember once the ops are stored."""

    def reject(self, what: str, why: str) -> None:
        self.rejected += 1
        if len(self.problems) < _MAX_ERRORS:
            self.problems.append(f"{what}: {why}")

    def error_message(self, noun: str) -> str:
        if not self.rejected:
            return ""
        more = self.rejected - len(self.problems)
        tail = f"; and {more} more" if more > 0 else ""
        return f"{self.rejected} {noun} rejected: " + "; ".join(self.problems) + tail


# -- values --------------------------------------------------------------------------


def _clean(text: str) -> str:
    """PostgreSQL cannot store a NUL in text; OTLP strings may hold one."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def value_of(value: AnyValue) -> Any:
    """An ``AnyValue`` as JSON: bytes as base64 text, non-finite doubles as text."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return _clean(value.string_value)
    if kind == "bool_value":
        return value.bool_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        number = value.double_value
        return number if math.isfinite(number) else str(number)
    if kind == "array_value":
        return [value_of(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_of(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def attributes_of(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {_clean(pair.key): value_of(pair.value) for pair in pairs}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _label(value: Any) -> str | None:
    return None if value is None else _text(value)[:_LABEL] or None


def _ts(primary_ns: int, fallback_ns: int = 0) -> str | None:
    nanos = primary_ns or fallback_ns
    return to_rfc3339(nanos // 1000) if nanos else None


# -- sessions ------------------------------------------------------------------------


def session_id_for(named: Any, resource: dict[str, Any]) -> str:
    """The session a record belongs to (see the module docstring)."""
    if named is not None:
        if isinstance(named, str):
            try:
                return str(uuid.UUID(named))
            except ValueError:
                pass
        return str(uuid.uuid5(NAMESPACE, "session.id:" + _text(named)))
    canonical = orjson.dumps(resource, option=orjson.OPT_SORT_KEYS).decode()
    return str(uuid.uuid5(NAMESPACE, "resource:" + canonical))


def _opening(session_id: str, resource: dict[str, Any], limits: Limits) -> CreateSession:
    op = CreateSession(
        session_id,
        product=_label(resource.get("service.name")),
        version=_label(resource.get("service.version")),
        host=_label(resource.get("host.name")),
        metadata=resource or None,
        if_absent=True,
    )
    if limits.problem(op) is not None:
        op.metadata = None  # too big to keep; the session itself still opens
    return op


@dataclass(frozen=True, slots=True)
class _Resource:
    attributes: dict[str, Any]
    digest: bytes  # of the resource and scope as sent: the seed of each record's client id
    session_id: str  # of its records without a session.id of their own

    def session_for(self, attributes: dict[str, Any]) -> str:
        """The session of a record (or data point) with these attributes; removes its
        ``session.id`` from them, as it names the session rather than describing it."""
        named = attributes.pop(SESSION_ATTRIBUTE, None)
        return self.session_id if named is None else session_id_for(named, self.attributes)

    def client_id(self, *parts: bytes) -> str:
        hasher = hashlib.sha256(self.digest)
        for part in parts:
            hasher.update(len(part).to_bytes(8, "big"))
            hasher.update(part)
        return hasher.hexdigest()[:32]


def _resource(resource_bytes: bytes, scope_bytes: bytes, attributes: dict[str, Any]) -> _Resource:
    digest = hashlib.sha256(
        len(resource_bytes).to_bytes(8, "big") + resource_bytes + scope_bytes
    ).digest()
    session_id = session_id_for(attributes.get(SESSION_ATTRIBUTE), attributes)
    return _Resource(attributes, digest, session_id)


# -- logs ----------------------------------------------------------------------------

_LEVELS = ((5, "debug"), (9, "debug"), (13, "info"), (17, "warning"), (21, "error"))


def level_of(severity_number: int) -> str | None:
    """OTLP's severity ranges (TRACE 1-4, DEBUG 5-8, INFO 9-12, WARN 13-16, ERROR 17-20,
    FATAL 21-24) as datacat levels; 0 (unspecified) is None, read as info."""
    if severity_number <= 0:
        return None
    for below, level in _LEVELS:
        if severity_number < below:
            return level
    return "critical"


def map_logs(request: ExportLogsServiceRequest, limits: Limits) -> Mapped:
    mapped = Mapped()
    for resource_logs in request.resource_logs:
        attributes = attributes_of(resource_logs.resource.attributes)
        resource_bytes = resource_logs.resource.SerializeToString(deterministic=True)
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope
            source = _resource(
                resource_bytes, scope.SerializeToString(deterministic=True), attributes
            )
            for index, record in enumerate(scope_logs.log_records):
                _map_record(mapped, source, _clean(scope.name), record, index, limits)
    return mapped


def _map_record(
    mapped: Mapped,
    source: _Resource,
    scope_name: str,
    record: LogRecord,
    index: int,
    limits: Limits,
) -> None:
    data = attributes_of(record.attributes)
    session_id = source.session_for(data)
    level = level_of(record.severity_number)
    body = value_of(record.body) if record.HasField("body") else None
    message: str | None = None
    if isinstance(body, str) and len(body) <= MAX_MESSAGE:
        message = body
    elif body is not None:
        data["body"] = body
        if isinstance(body, str):
            message = body[:MAX_MESSAGE]
    if record.trace_id:
        data["trace_id"] = record.trace_id.hex()
    if record.span_id:
        data["span_id"] = record.span_id.hex()
    if "exception.type" in data or "exception.message" in data:
        name = EXCEPTION_EVENT
        data = _exception_data(data, record.severity_number)
        level = level or "error"
        if message is None:
            message = f"{data['type']}: {data['message']}"[:MAX_MESSAGE]
    else:
        named_event = data.pop("event.name", None) or _clean(record.event_name)
        name = _text(named_event) if named_event else scope_name or "log"
    body_fields = {
        "name": name,
        "data": data or None,
        "timestamp": _ts(record.time_unix_nano, record.observed_time_unix_nano),
        "id": source.client_id(record.SerializeToString(deterministic=True)),
        "level": level,
        "message": message,
    }
    what = f"log record {index} ({name})"
    try:
        op = toops.event(session_id, EventIn.model_validate(body_fields))
    except ValidationError as exc:
        mapped.reject(what, _first_error(exc))
        return
    _keep(mapped, op, what, limits, source)


def _exception_data(attributes: dict[str, Any], severity_number: int) -> dict[str, Any]:
    """``exception.*`` attributes in the shape ``datacat.fingerprint`` groups by; the other
    attributes stay beside them. FATAL severity marks the exception fatal."""
    kind = attributes.pop("exception.type", None)
    text = attributes.pop("exception.message", None)
    trace = attributes.pop("exception.stacktrace", None)
    data: dict[str, Any] = {
        "type": _text(kind) if kind is not None else "",
        "message": _text(text) if text is not None else "",
        "traceback": _text(trace).splitlines() if trace is not None else [],
    }
    if severity_number >= 21:
        data["fatal"] = True
    if attributes:
        data["attributes"] = attributes
    return data


# -- metrics -------------------------------------------------------------------------

SeriesKey = tuple[str, str, str]
"""(session id, metric name, attributes as canonical JSON)."""

Bounds = tuple[float | None, ...]
"""A histogram's bucket upper bounds (``le``), ascending; None is +Inf."""


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    start_ns: int
    totals: tuple[float, ...]
    """(value,) for a sum; (sum, count, *bucket counts) for a histogram."""
    bounds: Bounds = ()


class SeriesMemory:
    """The last point of each cumulative series, to turn running totals into deltas.

    Kept in this process's memory, bounded (the oldest series are forgotten first). A
    series seen for the first time — after a restart, or in another worker process —
    counts its whole running total once, as OTLP's first cumulative point does. A new
    start time, or a total going down, is a reset: the new total is the delta.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._points: dict[SeriesKey, SeriesPoint] = {}

    def get(self, key: SeriesKey) -> SeriesPoint | None:
        return self._points.get(key)

    def remember(self, points: dict[SeriesKey, SeriesPoint]) -> None:
        for key, point in points.items():
            self._points.pop(key, None)
            self._points[key] = point
        while len(self._points) > self.capacity:
            del self._points[next(iter(self._points))]


def _upper(le: float | None) -> float:
    return math.inf if le is None else le


def rebucket(counts: Sequence[float], bounds: Bounds, onto: Bounds) -> list[float]:
    """``counts`` over ``bounds`` re-counted over ``onto``, each old bucket into the first
    new one whose bound reaches its own. Exact when the new layout is coarser (an
    exponential histogram only ever downscales, merging whole buckets)."""
    uppers = [_upper(le) for le in onto]
    out = [0.0] * len(onto)
    for le, count in zip(bounds, counts, strict=True):
        out[min(bisect.bisect_left(uppers, _upper(le)), len(out) - 1)] += count
    return out


def _delta(before: SeriesPoint | None, now: SeriesPoint) -> tuple[float, ...]:
    if before is None or before.start_ns != now.start_ns:
        return now.totals
    previous = before.totals
    if before.bounds != now.bounds:
        moved = rebucket(previous[2:], before.bounds, now.bounds)
        previous = (*previous[:2], *moved)
    delta = tuple(new - old for new, old in zip(now.totals, previous, strict=True))
    return now.totals if any(change < 0 for change in delta) else delta


def map_metrics(
    request: ExportMetricsServiceRequest, limits: Limits, memory: SeriesMemory
) -> Mapped:
    mapped = Mapped()
    for resource_metrics in request.resource_metrics:
        attributes = attributes_of(resource_metrics.resource.attributes)
        resource_bytes = resource_metrics.resource.SerializeToString(deterministic=True)
        for scope_metrics in resource_metrics.scope_metrics:
            source = _resource(
                resource_bytes,
                scope_metrics.scope.SerializeToString(deterministic=True),
                attributes,
            )
            for metric in scope_metrics.metrics:
                _map_metric(mapped, source, metric, limits, memory)
    return mapped


@dataclass(frozen=True, slots=True)
class _Point:
    """One data point reduced to what datacat stores, before the cumulative step."""

    attributes: dict[str, Any]
    start_ns: int
    time_ns: int
    totals: tuple[float, ...]  # as SeriesPoint's
    raw: bytes
    bounds: Bounds = ()


def _points(metric: Metric) -> tuple[str, bool, Sequence[_Point]] | str:
    """(kind, cumulative, points) for a metric, or why it cannot be stored."""
    data = metric.WhichOneof("data")
    if data == "gauge":
        return "gauge", False, [_number(p) for p in metric.gauge.data_points if _recorded(p)]
    if data == "sum":
        total = metric.sum
        temporality = total.aggregation_temporality
        points = [_number(p) for p in total.data_points if _recorded(p)]
        if temporality == AGGREGATION_TEMPORALITY_DELTA:
            return "counter", False, points
        if temporality != AGGREGATION_TEMPORALITY_CUMULATIVE:
            return "a sum's aggregation temporality must be DELTA or CUMULATIVE"
        if total.is_monotonic:
            return "counter", True, points
        return "gauge", False, points  # an up-down counter's running total is its value
    if data in ("histogram", "exponential_histogram", "summary"):
        kind = getattr(metric, data)
        # A summary is always cumulative; the histograms say which they are.
        cumulative = (
            data == "summary" or kind.aggregation_temporality == AGGREGATION_TEMPORALITY_CUMULATIVE
        )
        layout = _BUCKETS.get(data, _no_buckets)
        return (
            "histogram",
            cumulative,
            [_histogram(p, layout) for p in kind.data_points if _recorded(p)],
        )
    return "a metric needs one of gauge, sum, histogram, exponential_histogram, summary"


def _recorded(point: Any) -> bool:
    return not point.flags & 1  # FLAG_NO_RECORDED_VALUE: a gap, not a value


def _number(point: Any) -> _Point:
    value = point.as_int if point.WhichOneof("value") == "as_int" else point.as_double
    return _Point(
        attributes_of(point.attributes),
        point.start_time_unix_nano,
        point.time_unix_nano,
        (float(value),),
        point.SerializeToString(deterministic=True),
    )


Layout = tuple[Bounds, tuple[float, ...]]


def _histogram(point: Any, layout: Callable[[Any], Layout]) -> _Point:
    bounds, counts = layout(point)
    return _Point(
        attributes_of(point.attributes),
        point.start_time_unix_nano,
        point.time_unix_nano,
        (point.sum, float(point.count), *counts),
        point.SerializeToString(deterministic=True),
        bounds,
    )


def _no_buckets(point: Any) -> Layout:
    return (), ()  # a summary's quantiles are not buckets: its mean and count only


def _explicit(point: Any) -> Layout:
    """Bucket i counts (bounds[i-1], bounds[i]], the last one up to +Inf: datacat's rule."""
    bounds: Bounds = (*point.explicit_bounds, None)
    if len(point.bucket_counts) != len(bounds):
        return (), ()  # no buckets sent (or a malformed layout): mean and count only
    return bounds, tuple(float(n) for n in point.bucket_counts)


def _exponential(point: Any) -> Layout:
    """Exponential buckets as explicit ones: positive bucket i counts (base**i,
    base**(i+1)] with base = 2**(2**-scale); negative ones mirror them; the zero bucket
    ends at the zero threshold. A layout whose bounds overflow keeps mean and count only."""
    try:
        base = 2.0 ** (2.0**-point.scale)
        negative = point.negative
        bounds: list[float | None] = []
        counts: list[float] = []
        for index in range(len(negative.bucket_counts) - 1, -1, -1):
            bounds.append(-(base ** (negative.offset + index)))
            counts.append(float(negative.bucket_counts[index]))
        positive = point.positive
        if point.zero_count or counts:
            bounds.append(point.zero_threshold)
            counts.append(float(point.zero_count))
        elif positive.bucket_counts:
            bounds.append(base**positive.offset)  # the lowest bucket's lower bound
            counts.append(0.0)
        for index, count in enumerate(positive.bucket_counts):
            bounds.append(base ** (positive.offset + index + 1))
            counts.append(float(count))
    except OverflowError:
        return (), ()
    if not all(math.isfinite(le) for le in bounds if le is not None):
        return (), ()
    return tuple(bounds), tuple(counts)


_BUCKETS: dict[str, Callable[[Any], Layout]] = {
    "histogram": _explicit,
    "exponential_histogram": _exponential,
}


def _coarsened(buckets: list[tuple[float | None, int]]) -> list[tuple[float | None, int]]:
    """At most ``MAX_BUCKETS``: neighbours merged pairwise (each pair keeps the upper
    bound), a coarser but still exact histogram."""
    while len(buckets) > MAX_BUCKETS:
        buckets = [
            (buckets[min(i + 1, len(buckets) - 1)][0], sum(n for _, n in buckets[i : i + 2]))
            for i in range(0, len(buckets), 2)
        ]
    return buckets


def _map_metric(
    mapped: Mapped, source: _Resource, metric: Metric, limits: Limits, memory: SeriesMemory
) -> None:
    name = _clean(metric.name)
    found = _points(metric)
    if isinstance(found, str):
        mapped.reject(f"metric {name!r}", found)
        return
    kind, cumulative, points = found
    unit = _clean(metric.unit)[:64] or None
    for index, point in enumerate(sorted(points, key=lambda p: p.time_ns)):
        what = f"metric {name!r} point {index}"
        attributes = dict(point.attributes)
        session_id = source.session_for(attributes)
        totals = point.totals
        if cumulative:
            key = (session_id, name, orjson.dumps(attributes, option=orjson.OPT_SORT_KEYS).decode())
            now = SeriesPoint(point.start_ns, totals, point.bounds)
            totals = _delta(mapped.series.get(key) or memory.get(key), now)
            mapped.series[key] = now
        fields: dict[str, Any] = {"kind": kind}
        if kind == "histogram":
            total, count = totals[0], round(totals[1])
            if count <= 0:
                continue  # no new observations since the last point
            fields["value"] = total / count
            if point.bounds:
                counts = [round(n) for n in totals[2:]]
                fields["buckets"] = [
                    {"le": le, "count": n}
                    for le, n in _coarsened([*zip(point.bounds, counts, strict=True)])
                ]
                fields["sum"], fields["count"] = total, sum(counts)
        else:
            fields["value"] = totals[0]
            if cumulative and totals[0] == 0:
                continue  # a running total re-sent unchanged: nothing happened
        if not math.isfinite(fields["value"]):
            mapped.reject(what, "the value is not a finite number")
            continue
        fields |= {
            "name": name,
            "tags": [f"{key}={_text(item)}" for key, item in attributes.items()] or None,
            "timestamp": _ts(point.time_ns),
            "id": source.client_id(name.encode(), point.raw),
            "unit": unit,
        }
        try:
            op = toops.metric(session_id, MetricIn.model_validate(fields))
        except ValidationError as exc:
            mapped.reject(what, _first_error(exc))
            continue
        _keep(mapped, op, what, limits, source)


# -- shared --------------------------------------------------------------------------


def _keep(
    mapped: Mapped, op: LogEvent | LogMetric, what: str, limits: Limits, source: _Resource
) -> None:
    problem = limits.problem(op)
    if problem is not None:
        mapped.reject(what, problem[1])
        return
    mapped.ops.append(op)
    if op.session_id not in mapped.sessions:
        mapped.sessions[op.session_id] = _opening(op.session_id, source.attributes, limits)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
