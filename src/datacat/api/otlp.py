"""OpenTelemetry logs and metrics in, over OTLP/HTTP (issue 13): ``POST /v1/logs`` and
``POST /v1/metrics``, what an SDK's OTLP/HTTP exporter sends to a collector.

HTTP only: the body (protobuf or OTLP JSON, maybe gzipped) is decoded here, mapped to
datacat's write operations by ``datacat.otlpmap``, and written through the same writer as
``/api/batch``. Answers follow the OTLP/HTTP specification: 200 with an
``Export*ServiceResponse`` in the request's encoding (its ``partial_success`` counting
the records that could not be stored), 400 with a ``google.rpc.Status`` for a body that
cannot be decoded, 415 for another content type or encoding.
"""

from __future__ import annotations

import base64
import zlib
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

# No stubs for protobuf itself are installed (types-protobuf); the OTLP classes have theirs.
from google.protobuf import json_format  # type: ignore[import-untyped]
from google.protobuf.message import DecodeError, Message  # type: ignore[import-untyped]
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from datacat import otlpmap
from datacat.api.deps import Repo
from datacat.api.routing import loads
from datacat.api.schemas import ErrorBody
from datacat.limits import Limits
from datacat.store.ops import Op
from datacat.store.repository import Repository

router = APIRouter(prefix="/v1", tags=["opentelemetry"])

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_INVALID_ARGUMENT, _UNAVAILABLE = 3, 14  # google.rpc.Code
_HEX_IDS = ("traceId", "spanId", "trace_id", "span_id")

Request_ = TypeVar("Request_", ExportLogsServiceRequest, ExportMetricsServiceRequest)


class Refused(Exception):
    """A request answered with an error status and a ``google.rpc.Status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _media_type(request: Request) -> str:
    declared = request.headers.get("content-type", "")
    media = declared.split(";", 1)[0].strip().lower()
    if media not in (PROTOBUF, JSON):
        raise Refused(415, f"content type must be {PROTOBUF} or {JSON}, not {declared!r}")
    return media


_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
"""The encodings OTLP exporters offer: gzip, and HTTP's "deflate" (zlib-wrapped)."""


def inflate(data: bytes, encoding: str, limit: int) -> bytes:
    """The decompressed body, refused once it grows past ``limit`` bytes: a small gzip
    body can inflate a thousandfold, so the size that counts is the decompressed one."""
    out: list[bytes] = []
    size = 0
    while data:
        inflater = zlib.decompressobj(wbits=_WBITS[encoding])
        try:
            chunk = inflater.decompress(data, limit + 1 - size)
        except zlib.error as exc:
            raise Refused(400, f"the {encoding} body cannot be decompressed: {exc}") from None
        size += len(chunk)
        out.append(chunk)
        if size > limit or inflater.unconsumed_tail:
            raise Refused(413, _too_large(limit))
        if not inflater.eof:
            raise Refused(400, f"the {encoding} body is truncated")
        data = inflater.unused_data  # another member follows (gzip allows several)
    return b"".join(out)


def _too_large(limit: int) -> str:
    return (
        f"decompressed request body larger than {limit} bytes "
        f"(max_batch_bytes={limit}, DATACAT_MAX_BATCH_BYTES)"
    )


def _body(raw: bytes, request: Request, limit: int) -> bytes:
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        if len(raw) > limit:
            raise Refused(413, _too_large(limit))
        return raw
    if encoding in _WBITS:
        return inflate(raw, encoding, limit)
    raise Refused(415, f"content encoding must be gzip, deflate or none, not {encoding!r}")


def _hex_ids_as_base64(node: Any) -> None:
    """OTLP JSON writes trace and span ids as hex, where protobuf's JSON mapping (which
    ``json_format`` follows) expects base64: convert them in place before parsing."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _HEX_IDS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise Refused(400, f"{key} must be hexadecimal, got {value[:64]!r}") from None
            else:
                _hex_ids_as_base64(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids_as_base64(item)


def decode(body: bytes, media: str, message: Request_) -> Request_:
    """Parse ``body`` into ``message``; any failure is a 400 naming what was wrong."""
    if media == PROTOBUF:
        try:
            message.ParseFromString(body)
        except (DecodeError, RecursionError, ValueError) as exc:
            raise Refused(400, f"the protobuf body cannot be decoded: {exc}") from None
        return message
    try:
        document = loads(body)
    except ValueError as exc:
        raise Refused(400, f"the JSON body cannot be decoded: {exc}") from None
    if not isinstance(document, dict):
        raise Refused(400, "the JSON body must be an object")
    _hex_ids_as_base64(document)
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, TypeError, ValueError) as exc:
        raise Refused(400, f"the JSON body is not an OTLP export request: {exc}") from None
    return message


def _encode(message: Message, media: str) -> bytes:
    if media == PROTOBUF:
        return bytes(message.SerializeToString())
    return str(json_format.MessageToJson(message, indent=None)).encode()


def status_body(code: int, text: str, media: str) -> bytes:
    """A ``google.rpc.Status {code, message}``, what OTLP/HTTP answers an error with.
    Encoded by hand (two fields) rather than adding googleapis-common-protos for it."""
    if media == JSON:
        return orjson.dumps({"code": code, "message": text})
    encoded = text.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(encoded)) + encoded


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _refusal(exc: Refused, media: str) -> Response:
    unavailable = exc.status == 503
    code = _UNAVAILABLE if unavailable else _INVALID_ARGUMENT
    headers = {"Retry-After": "1"} if unavailable else None  # OTLP exporters honour it
    return Response(
        status_body(code, exc.message, media), exc.status, headers=headers, media_type=media
    )


async def store(repo: Repository, mapped: otlpmap.Mapped, chunk: int) -> None:
    """Write the ops, ``chunk`` at a time, opening each session on first sight.

    Ops are written first; only when the writer reports sessions missing are they opened,
    in the same unit as the ops that need them. The openings are ``if_absent``: when
    another request or process opened the session in the meantime, the ops go into that
    one. Client ids make every rewrite safe.
    """
    for start in range(0, len(mapped.ops), chunk):
        ops: list[Op] = list(mapped.ops[start : start + chunk])
        result = await repo.write_batch(ops)
        if result.missing:
            missing = dict.fromkeys(ops[index].session_id for index in result.missing)
            opened: list[Op] = [mapped.sessions[session_id] for session_id in missing]
            result = await repo.write_batch([*opened, *ops])
        if result.missing:  # deleted again between the two writes: let the exporter retry
            raise Refused(503, "a session was deleted while this export was written; retry")


def _limits(request: Request) -> Limits:
    limits: Limits = request.app.state.limits
    return limits


Checked = Annotated[Limits, Depends(_limits)]


def _memory(request: Request) -> otlpmap.SeriesMemory:
    state = request.app.state
    if not hasattr(state, "otlp_series"):
        state.otlp_series = otlpmap.SeriesMemory()
    memory: otlpmap.SeriesMemory = state.otlp_series
    return memory


_STATUS_SCHEMA = {
    "type": "object",
    "description": "google.rpc.Status (protobuf, or JSON as here)",
    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
}


def _answers(noun: str, field: str) -> dict[int | str, dict[str, Any]]:
    def status(description: str, example: str) -> dict[str, Any]:
        return {
            "description": description,
            "content": {
                JSON: {"schema": _STATUS_SCHEMA, "example": {"code": 3, "message": example}},
                PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
            },
        }

    return {
        200: {
            "description": f"Stored, except the {noun} counted in `partialSuccess` (omitted "
            "when all were stored). Answered in the request's encoding.",
            "content": {
                JSON: {
                    "schema": {"type": "object"},
                    "examples": {
                        "all stored": {"value": {}},
                        "partly": {
                            "value": {
                                "partialSuccess": {
                                    field: "1",
                                    "errorMessage": f"1 {noun} rejected: …",
                                }
                            }
                        },
                    },
                },
                PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        400: status("The body cannot be decoded", "the protobuf body cannot be decoded: …"),
        401: {"model": ErrorBody, "description": "No ingest key (once auth is on)"},
        403: {"model": ErrorBody, "description": "The key's scope is not ingest or admin"},
        413: status(
            "Decompressed body larger than DATACAT_MAX_BATCH_BYTES (a raw body over "
            "DATACAT_MAX_BODY_BYTES is refused before it is read, as `{detail}`)",
            "decompressed request body larger than 4194304 bytes (…)",
        ),
        503: {
            "description": "Database unavailable (`{detail}`), or a session deleted while "
            "the export was written (a Status); retry after Retry-After",
            "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
            "content": {
                JSON: {"schema": {"anyOf": [ErrorBody.model_json_schema(), _STATUS_SCHEMA]}},
                PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        415: status(
            f"Content type not {PROTOBUF} or {JSON}, or encoding not gzip or deflate",
            f"content type must be {PROTOBUF} or {JSON}, not 'text/plain'",
        ),
    }


def _request_body(example: dict[str, Any]) -> dict[str, Any]:
    return {
        "security": [{"bearer": []}],  # the ingest key, as the exporter's `headers`
        "requestBody": {
            "required": True,
            "description": "An OTLP export request as protobuf or OTLP JSON, optionally "
            "with `Content-Encoding: gzip` (or `deflate`). Point an OpenTelemetry SDK's "
            "OTLP/HTTP exporter here.",
            "content": {
                PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
                JSON: {"schema": {"type": "object"}, "example": example},
            },
        },
    }


_RESOURCE = {
    "attributes": [
        {"key": "service.name", "value": {"stringValue": "probe-app"}},
        {"key": "service.version", "value": {"stringValue": "1.4.0"}},
        {"key": "host.name", "value": {"stringValue": "build-7"}},
        {"key": "service.instance.id", "value": {"stringValue": "6f1c2a7e-run-1"}},
    ]
}
_LOGS_EXAMPLE = {
    "resourceLogs": [
        {
            "resource": _RESOURCE,
            "scopeLogs": [
                {
                    "scope": {"name": "probe.worker"},
                    "logRecords": [
                        {
                            "timeUnixNano": "1790000000000000000",
                            "severityNumber": 13,
                            "body": {"stringValue": "disk almost full"},
                            "attributes": [{"key": "free_mb", "value": {"intValue": "12"}}],
                        }
                    ],
                }
            ],
        }
    ]
}
_METRICS_EXAMPLE = {
    "resourceMetrics": [
        {
            "resource": _RESOURCE,
            "scopeMetrics": [
                {
                    "metrics": [
                        {
                            "name": "frame_time",
                            "unit": "ms",
                            "gauge": {
                                "dataPoints": [
                                    {"timeUnixNano": "1790000000000000000", "asDouble": 16.7}
                                ]
                            },
                        }
                    ]
                }
            ],
        }
    ]
}


async def _export(
    request: Request, repo: Repository, limits: Limits, message: Request_
) -> tuple[otlpmap.Mapped, str] | Response:
    """Decode, map and store one export; the mapping and the media type to answer in, or
    the error answer itself."""
    media = PROTOBUF
    try:
        media = _media_type(request)
        limit: int = request.app.state.settings.max_batch_bytes
        body = _body(await request.body(), request, limit)
        decoded = decode(body, media, message)
        if isinstance(decoded, ExportLogsServiceRequest):
            mapped = otlpmap.map_logs(decoded, limits)
        else:
            mapped = otlpmap.map_metrics(decoded, limits, _memory(request))
        await store(repo, mapped, limits.max_batch_items)
    except Refused as exc:
        return _refusal(exc, media)
    return mapped, media


@router.post(
    "/logs",
    responses=_answers("log records", "rejectedLogRecords"),
    openapi_extra=_request_body(_LOGS_EXAMPLE),
)
async def export_logs(request: Request, repo: Repo, limits: Checked) -> Response:
    """OTLP/HTTP logs: each log record becomes an event of the session its resource (or
    its `session.id` attribute) names — created on first sight; see the README."""
    done = await _export(request, repo, limits, ExportLogsServiceRequest())
    if isinstance(done, Response):
        return done
    mapped, media = done
    answer = ExportLogsServiceResponse()
    if mapped.rejected:
        answer.partial_success.CopyFrom(
            ExportLogsPartialSuccess(
                rejected_log_records=mapped.rejected,
                error_message=mapped.error_message("log records"),
            )
        )
    return Response(_encode(answer, media), media_type=media)


@router.post(
    "/metrics",
    responses=_answers("data points", "rejectedDataPoints"),
    openapi_extra=_request_body(_METRICS_EXAMPLE),
)
async def export_metrics(request: Request, repo: Repo, limits: Checked) -> Response:
    """OTLP/HTTP metrics: gauges, counters (cumulative sums as deltas) and histograms
    become metrics of the session their resource names; see the README."""
    done = await _export(request, repo, limits, ExportMetricsServiceRequest())
    if isinstance(done, Response):
        return done
    mapped, media = done
    _memory(request).remember(mapped.series)  # only now: a failed write must be resent whole
    answer = ExportMetricsServiceResponse()
    if mapped.rejected:
        answer.partial_success.CopyFrom(
            ExportMetricsPartialSuccess(
                rejected_data_points=mapped.rejected,
                error_message=mapped.error_message("data points"),
            )
        )
    return Response(_encode(answer, media), media_type=media)
