"""OpenTelemetry in (issue 13, item 1): the real OpenTelemetry SDK and its OTLP/HTTP
exporters send logs and metrics to a real, key-protected ``datacat serve``; everything is
read back through datacat's own API, on SQLite and on PostgreSQL.

The SDK is configured the way the README tells users to (ingest key as a Bearer header,
gzip on). Hand-built export requests (the proto classes, OTLP JSON through httpx) cover
what an SDK never sends on purpose: retries, bad records, undecodable bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import logging
import re
import socket
import tracemalloc
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_CUMULATIVE,
    ExponentialHistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourceProto
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from sqlalchemy.exc import IntegrityError

from datacat import otlpmap
from datacat.api.otlp import Refused, inflate, store
from datacat.limits import Limits
from datacat.settings import Settings
from datacat.store.migrate import upgrade
from datacat.store.repository import Repository
from support import BACKENDS, async_throwaway_database, datacat_server, fresh_database
from support.auth import bearer, create_key

PROTOBUF = {"Content-Type": "application/x-protobuf"}


@dataclass(frozen=True)
class Keyed:
    url: str
    ingest: str
    read: str

    def get(self, path: str, **params: Any) -> Any:
        answer = httpx.get(self.url + path, params=params, headers=bearer(self.read))
        assert answer.status_code == 200, answer.text
        return answer.json()

    def post(self, path: str, content: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(
            self.url + path, content=content, headers={**bearer(self.ingest), **headers}
        )

    def sessions(self, product: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get("/api/sessions", product=product, limit=500)["items"]
        return items

    def only_session(self, product: str) -> dict[str, Any]:
        (found,) = self.sessions(product)
        return found

    def events(self, session_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get(f"/api/sessions/{session_id}/events", limit=10_000)[
            "items"
        ]
        return items

    def metrics(self, session_id: str, name: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get(
            f"/api/sessions/{session_id}/metrics", name=name, limit=10_000
        )["items"]
        return items


@pytest.fixture(scope="module", params=BACKENDS)
def keyed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Keyed]:
    folder = tmp_path_factory.mktemp(f"otlp-{request.param}")
    with fresh_database(request.param, folder, "otlp") as database_url:
        ingest = create_key(database_url, "ingest")
        read = create_key(database_url, "read")
        with datacat_server(database_url, log_path=folder / "server.log") as server:
            yield Keyed(server.url, ingest, read)


def _resource(product: str, **more: str) -> Resource:
    return Resource.create(
        {
            "service.name": product,
            "service.version": "2.1.0",
            "host.name": "otel-host",
            "service.instance.id": str(uuid.uuid4()),
            **more,
        }
    )


def _product() -> str:
    return f"otel-{uuid.uuid4().hex[:8]}"


# -- the SDK, end to end ---------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:`LoggingHandler` in `opentelemetry-sdk` is deprecated")
def test_sdk_logs_become_levelled_events_and_a_grouped_exception(keyed: Keyed) -> None:
    product = _product()
    provider = LoggerProvider(resource=_resource(product))
    exporter = OTLPLogExporter(
        endpoint=keyed.url + "/v1/logs",
        headers=bearer(keyed.ingest),
        compression=Compression.Gzip,
    )
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger(f"probe.{product}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    logger.addHandler(handler)
    try:
        logger.debug("warming up")
        logger.info("started", extra={"user": "alice"})
        logger.warning("disk almost full", extra={"event.name": "disk", "free_mb": 12})
        for key in ("missing", "absent"):  # one line of code, two messages: one group
            try:
                {}[key]
            except KeyError:
                logger.exception("lookup failed")
        logger.critical("giving up")
        assert provider.force_flush()
    finally:
        logger.removeHandler(handler)
        provider.shutdown()

    session = keyed.only_session(product)
    assert (session["product"], session["version"], session["host"]) == (
        product,
        "2.1.0",
        "otel-host",
    )
    events = keyed.events(session["id"])
    seen = [(e["name"], e["level"], e["message"]) for e in events]
    scope = f"probe.{product}"
    assert seen == [
        (scope, "debug", "warming up"),
        (scope, "info", "started"),
        ("disk", "warning", "disk almost full"),
        ("exception", "error", "lookup failed"),
        ("exception", "error", "lookup failed"),
        (scope, "critical", "giving up"),
    ]
    assert events[1]["data"]["user"] == "alice"
    assert events[2]["data"]["free_mb"] == 12
    exception = events[3]["data"]
    assert exception["type"] == "KeyError"
    assert exception["message"] == "missing"  # the SDK sends str() of the KeyError's arg
    assert exception["traceback"][0] == "Traceback (most recent call last):"
    assert any("test_sdk_logs_become" in line for line in exception["traceback"])
    assert exception["traceback"][-1] == "KeyError: 'missing'"
    (group,) = keyed.get("/api/exceptions", product=product)["items"]
    assert (group["type"], group["occurrences"], group["sessions"]) == ("KeyError", 2, 1)


DELTA = {kind: AggregationTemporality.DELTA for kind in (Counter, Histogram)}


@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_sdk_metrics_become_gauges_counter_deltas_and_histograms(
    keyed: Keyed, temporality: str
) -> None:
    """The SDK's default (cumulative: running totals the server turns into deltas) and
    delta temporality (what the README recommends with several workers) store the same."""
    product = _product()
    exporter = OTLPMetricExporter(
        endpoint=keyed.url + "/v1/metrics",
        headers=bearer(keyed.ingest),
        compression=Compression.Gzip,
        preferred_temporality=DELTA if temporality == "delta" else None,
    )
    # An interval nobody waits for: each force_flush is one collection, one export.
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    exponential = View(
        instrument_name="latency_exp", aggregation=ExponentialBucketHistogramAggregation()
    )
    provider = MeterProvider(
        resource=_resource(product), metric_readers=[reader], views=[exponential]
    )
    meter = provider.get_meter("probe.meter")
    gauge = meter.create_gauge("queue_depth", unit="items")
    counter = meter.create_counter("requests")
    histogram = meter.create_histogram("latency", unit="ms")
    histogram_exp = meter.create_histogram("latency_exp", unit="ms")
    try:
        gauge.set(3.5)
        counter.add(2, {"route": "/a"})
        counter.add(3, {"route": "/a"})
        counter.add(7, {"route": "/b"})
        for value in (10, 20):
            histogram.record(value)
            histogram_exp.record(value)
        assert provider.force_flush()
        counter.add(4, {"route": "/a"})
        histogram.record(40)
        histogram_exp.record(40)  # widens the range: the SDK downscales its buckets
        assert provider.force_flush()
    finally:
        provider.shutdown()

    session = keyed.only_session(product)
    sid = session["id"]
    assert (session["product"], session["version"], session["host"]) == (
        product,
        "2.1.0",
        "otel-host",
    )
    gauges = keyed.metrics(sid, "queue_depth")
    assert {(m["kind"], m["unit"], m["value"]) for m in gauges} == {("gauge", "items", 3.5)}

    requests = keyed.metrics(sid, "requests")
    assert all(m["kind"] == "counter" for m in requests)
    by_route: dict[str, list[float]] = {}
    for point in requests:
        (tag,) = point["tags"]
        by_route.setdefault(tag, []).append(point["value"])
    # Cumulative 5 then 9 on /a: deltas 5 and 4; /b: 7, then re-sent unchanged (twice,
    # the second flush and the shutdown's), which adds nothing and is not stored.
    assert by_route == {"route=/a": [5.0, 4.0], "route=/b": [7.0]}

    # Each export's new observations: 10 and 20, then 40 (a mean per row, buckets apart).
    latency = keyed.metrics(sid, "latency")
    assert [(m["kind"], m["unit"], m["value"]) for m in latency] == [
        ("histogram", "ms", 15.0),
        ("histogram", "ms", 40.0),
    ]

    def statistic(name: str, aggregation: str) -> float:
        series = keyed.get(
            "/api/metrics/series", name=name, aggregation=aggregation, session_id=sid
        )
        (point,) = series["points"]
        return float(point["value"])

    # The SDK's default bounds hold 10 in (5, 10], 20 in (10, 25] and 40 in (25, 50]: the
    # median's rank 1.5 lies halfway through (10, 25], as Prometheus interpolates.
    assert statistic("latency", "count") == 3
    assert statistic("latency", "sum") == 70
    assert statistic("latency", "p50") == pytest.approx(17.5)
    # Exponential buckets are narrow (a few %): the median lands in the one holding 20.
    assert statistic("latency_exp", "count") == 3
    assert statistic("latency_exp", "sum") == pytest.approx(70)
    assert statistic("latency_exp", "p50") == pytest.approx(20, rel=0.05)


def test_the_documented_examples_are_stored(keyed: Keyed) -> None:
    """The request examples /docs shows for both operations, sent as they are."""
    document = httpx.get(keyed.url + "/openapi.json").json()
    for path in ("/v1/logs", "/v1/metrics"):
        operation = document["paths"][path]["post"]
        assert {"400", "413", "415"} <= set(operation["responses"])
        content = operation["requestBody"]["content"]
        assert set(content) == {"application/x-protobuf", "application/json"}
        answer = httpx.post(
            keyed.url + path,
            json=content["application/json"]["example"],
            headers=bearer(keyed.ingest),
        )
        assert (answer.status_code, answer.json()) == (200, {})
    session = keyed.only_session("probe-app")
    assert (session["version"], session["host"]) == ("1.4.0", "build-7")
    (event,) = keyed.events(session["id"])
    assert (event["name"], event["level"], event["message"]) == (
        "probe.worker",
        "warning",
        "disk almost full",
    )
    (metric,) = keyed.metrics(session["id"], "frame_time")
    assert (metric["kind"], metric["unit"], metric["value"]) == ("gauge", "ms", 16.7)


README = Path(__file__).resolve().parents[1] / "README.md"
SDK_SETUP = re.findall(
    r"```python\n(.*?)```",
    README.read_text().split("\n### OpenTelemetry\n", 1)[1].split("\n### ", 1)[0],
    flags=re.S,
)[0]
"""The README's copy-paste setup (Integrations, OpenTelemetry), run as written but for
the server's address, its key and a product name of this test's own."""


@pytest.mark.filterwarnings("ignore:`LoggingHandler` in `opentelemetry-sdk` is deprecated")
def test_the_readme_sdk_setup_runs_as_written(keyed: Keyed) -> None:
    product = _product()
    code = (
        SDK_SETUP.replace("http://127.0.0.1:8080", keyed.url)
        .replace("dc_your_ingest_key", keyed.ingest)
        .replace("probe-app", product)
    )
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        exec(compile(code, "README-otel-setup", "exec"), {})
    finally:
        root.handlers[:] = handlers
    session = keyed.only_session(product)
    assert (session["version"], session["host"]) == ("1.4.0", socket.gethostname())
    events = keyed.events(session["id"])
    assert [(e["name"], e["level"]) for e in events] == [
        ("probe.worker", "warning"),
        ("exception", "error"),
    ]
    assert events[0]["data"]["free_mb"] == 12
    assert events[1]["data"]["type"] == "ZeroDivisionError"
    (jobs,) = keyed.metrics(session["id"], "jobs_done")
    assert (jobs["kind"], jobs["value"]) == ("counter", 3.0)
    (job_ms,) = keyed.metrics(session["id"], "job_ms")
    assert (job_ms["kind"], job_ms["unit"], job_ms["value"]) == ("histogram", "ms", 42.0)


# -- hand-built requests -----------------------------------------------------------------


def _attributes(**values: Any) -> list[KeyValue]:
    out = []
    for key, value in values.items():
        any_value = (
            AnyValue(int_value=value)
            if isinstance(value, int)
            else AnyValue(string_value=str(value))
        )
        out.append(KeyValue(key=key.replace("_", "."), value=any_value))
    return out


def _logs(product: str, *records: LogRecord, **resource: str) -> ExportLogsServiceRequest:
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=ResourceProto(attributes=_attributes(service_name=product, **resource)),
                scope_logs=[
                    ScopeLogs(scope=InstrumentationScope(name="hand"), log_records=records)
                ],
            )
        ]
    )


def _record(text: str, time_ns: int = 1_790_000_000_000_000_000, **attrs: Any) -> LogRecord:
    return LogRecord(
        time_unix_nano=time_ns,
        severity_number=9,
        body=AnyValue(string_value=text),
        attributes=_attributes(**attrs),
    )


def test_a_retried_export_stores_nothing_twice(keyed: Keyed) -> None:
    product = _product()
    logs = _logs(product, _record("once"), _record("twice", time_ns=1_790_000_000_000_000_001))
    body = gzip.compress(logs.SerializeToString())
    headers = {**PROTOBUF, "Content-Encoding": "gzip"}
    for _ in range(3):
        answer = keyed.post("/v1/logs", body, headers)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/x-protobuf"
        parsed = ExportLogsServiceResponse.FromString(answer.content)
        assert not parsed.HasField("partial_success")
    session = keyed.only_session(product)
    assert [e["message"] for e in keyed.events(session["id"])] == ["once", "twice"]

    metrics = ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(
                resource=ResourceProto(attributes=_attributes(service_name=product)),
                scope_metrics=[
                    ScopeMetrics(
                        metrics=[
                            Metric(
                                name="jobs",
                                sum=Sum(
                                    aggregation_temporality=AGGREGATION_TEMPORALITY_CUMULATIVE,
                                    is_monotonic=True,
                                    data_points=[
                                        NumberDataPoint(
                                            start_time_unix_nano=1,
                                            time_unix_nano=1_790_000_000_000_000_000,
                                            as_int=6,
                                        )
                                    ],
                                ),
                            )
                        ]
                    )
                ],
            )
        ]
    )
    for _ in range(2):
        answer = keyed.post("/v1/metrics", metrics.SerializeToString(), PROTOBUF)
        assert answer.status_code == 200, answer.text
        ExportMetricsServiceResponse.FromString(answer.content)
    assert [m["value"] for m in keyed.metrics(session["id"], "jobs")] == [6.0]


def test_otlp_json_with_hex_ids_and_a_bad_record_is_a_partial_success(keyed: Keyed) -> None:
    product = _product()
    body = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": product}}]
                },
                "scopeLogs": [
                    {
                        "scope": {"name": "json.scope"},
                        "logRecords": [
                            {
                                "timeUnixNano": "1790000000000000000",
                                "severityNumber": "SEVERITY_NUMBER_WARN",
                                "body": {"stringValue": "from json"},
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                            },
                            {
                                "body": {"stringValue": "name too long"},
                                "attributes": [
                                    {"key": "event.name", "value": {"stringValue": "x" * 300}}
                                ],
                            },
                        ],
                    }
                ],
            }
        ]
    }
    answer = httpx.post(keyed.url + "/v1/logs", json=body, headers=bearer(keyed.ingest))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    partial = answer.json()["partialSuccess"]
    assert partial["rejectedLogRecords"] == "1"
    assert "max_name_length" in partial["errorMessage"]
    session = keyed.only_session(product)
    (event,) = keyed.events(session["id"])
    assert (event["name"], event["level"], event["message"]) == (
        "json.scope",
        "warning",
        "from json",
    )
    assert event["timestamp"] == "2026-09-21T14:13:20.000000Z"
    assert event["data"] == {
        "trace_id": "5b8efff798038103d269b633813fc60c",
        "span_id": "eee19b7ec3c1b174",
    }


def test_session_id_attribute_names_the_session(keyed: Keyed) -> None:
    product = _product()
    made = httpx.post(
        keyed.url + "/api/sessions", json={"product": "own"}, headers=bearer(keyed.ingest)
    )
    existing = made.json()["session_id"]
    logs = _logs(
        product,
        _record("into an existing session", session_id=existing),
        _record("into a named one", session_id="checkout-run-7"),
    )
    for _ in range(2):  # the second time, both sessions exist already
        answer = keyed.post("/v1/logs", logs.SerializeToString(), PROTOBUF)
        assert answer.status_code == 200, answer.text
    assert [e["message"] for e in keyed.events(existing)] == ["into an existing session"]
    named = str(uuid.uuid5(otlpmap.NAMESPACE, "session.id:checkout-run-7"))
    assert [e["message"] for e in keyed.events(named)] == ["into a named one"]
    assert [s["id"] for s in keyed.sessions(product)] == [named]


def test_concurrent_first_exports_open_one_session(keyed: Keyed) -> None:
    product = _product()
    bodies = [
        _logs(
            product, _record(f"record {n}", time_ns=1_790_000_000_000_000_000 + n)
        ).SerializeToString()
        for n in range(8)
    ]

    async def send_all() -> list[int]:
        async with httpx.AsyncClient(headers={**bearer(keyed.ingest), **PROTOBUF}) as http:
            answers = await asyncio.gather(
                *(http.post(keyed.url + "/v1/logs", content=body) for body in bodies)
            )
        return [a.status_code for a in answers]

    assert asyncio.run(send_all()) == [200] * 8
    session = keyed.only_session(product)
    assert len(keyed.events(session["id"])) == 8


@pytest.fixture
async def two_processes(backend: str, tmp_path: Path) -> AsyncIterator[list[Repository]]:
    """Two repositories (two writers) on one database, as two server processes have."""
    if backend == "sqlite":
        database: Any = contextlib.nullcontext(f"sqlite+aiosqlite:///{tmp_path / 'race.db'}")
    else:
        database = async_throwaway_database("datacat_otlp_race")
    async with database as url:
        repos = [Repository.from_url(url), Repository.from_url(url)]
        await upgrade(repos[0].engine)
        for repo in repos:
            await repo.start()
        try:
            yield repos
        finally:
            for repo in repos:
                await repo.close()


async def test_two_processes_opening_one_session_both_store(
    two_processes: list[Repository], caplog: pytest.LogCaptureFixture
) -> None:
    """The loser of the race to open the session finds the id taken and writes its ops
    into the winner's session (each once), without a failed write in the log."""
    limits = Limits.from_settings(Settings())
    mapped = otlpmap.map_logs(_logs(_product(), _record("raced")), limits)
    (session_id,) = mapped.sessions
    with caplog.at_level(logging.WARNING, logger="datacat"):
        await asyncio.gather(
            *(store(repo, mapped, limits.max_batch_items) for repo in two_processes)
        )
    for repo in two_processes:
        page = await repo.list_events(session_id)
        assert [row["message"] for row in page.items] == ["raced"]
    assert [r.getMessage() for r in caplog.records if r.name.startswith("datacat")] == []


async def test_an_opening_that_lost_the_race_writes_into_the_winners_session(
    two_processes: list[Repository], caplog: pytest.LogCaptureFixture
) -> None:
    """The race made certain: one process opens the session, then the other, which has not
    seen it, sends its own opening with its ops. Only an ``if_absent`` opening does that
    quietly; a plain create of a taken id still fails, as POST /api/sessions must."""
    first, second = two_processes
    limits = Limits.from_settings(Settings())
    product = _product()
    winner = otlpmap.map_logs(_logs(product, _record("first")), limits)
    (session_id,) = winner.sessions
    opening = winner.sessions[session_id]
    assert opening.if_absent
    assert not (await first.write_batch([opening, *winner.ops])).missing
    late = otlpmap.map_logs(
        _logs(product, _record("second", time_ns=1_790_000_000_000_000_001)), limits
    )
    assert list(late.sessions) == [session_id]
    with caplog.at_level(logging.WARNING, logger="datacat"):
        result = await second.write_batch([late.sessions[session_id], *late.ops])
    assert result.missing == []
    assert [r.getMessage() for r in caplog.records if r.name.startswith("datacat")] == []
    page = await first.list_events(session_id)
    assert sorted(row["message"] for row in page.items) == ["first", "second"]

    plain = dataclasses.replace(opening, if_absent=False)
    with pytest.raises(IntegrityError):
        await second.write_batch([plain])


@pytest.mark.parametrize(
    ("content", "headers", "status", "says"),
    [
        (b"\xff\xff\xff", PROTOBUF, 400, "protobuf body cannot be decoded"),
        (b"{not json", {"Content-Type": "application/json"}, 400, "JSON body cannot be decoded"),
        (
            b'{"resourceLogs": 5}',
            {"Content-Type": "application/json"},
            400,
            "not an OTLP export request",
        ),
        (
            b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "zz"}]}]}]}',
            {"Content-Type": "application/json"},
            400,
            "traceId must be hexadecimal",
        ),
        (b"hello", {"Content-Type": "text/plain"}, 415, "content type must be"),
        (b"hello", {**PROTOBUF, "Content-Encoding": "br"}, 415, "content encoding must be"),
        (
            gzip.compress(b"\x00" * 5_000_000),
            {**PROTOBUF, "Content-Encoding": "gzip"},
            413,
            "DATACAT_MAX_BATCH_BYTES",
        ),
        (
            gzip.compress(b"\x0a\x00" * 10)[:-6],
            {**PROTOBUF, "Content-Encoding": "gzip"},
            400,
            "truncated",
        ),
    ],
    ids=["protobuf", "json", "json-shape", "hex", "type", "encoding", "zip-bomb", "truncated"],
)
def test_undecodable_bodies_are_refused_with_a_status(
    keyed: Keyed, content: bytes, headers: dict[str, str], status: int, says: str
) -> None:
    answer = keyed.post("/v1/logs", content, headers)
    assert answer.status_code == status, answer.text
    if answer.headers["content-type"] == "application/json":
        code, message = answer.json()["code"], answer.json()["message"]
    else:
        status_message = status_pb2.Status.FromString(answer.content)
        code, message = status_message.code, status_message.message
    assert says in message
    assert code == 3  # google.rpc.Code INVALID_ARGUMENT


def test_the_raw_body_limit_applies_before_anything_is_read(keyed: Keyed) -> None:
    """The ingress refuses a raw body over DATACAT_MAX_BATCH_BYTES (4 MiB by default) for
    /v1 as for /api/batch: OTLP routes are not on the fast path but not outside the limits,
    and an export is a batch (the same bound applies once a gzipped one is inflated)."""
    assert keyed.post("/v1/logs", b"\x00" * (1024 * 1024 + 1), PROTOBUF).status_code == 400
    answer = keyed.post("/v1/logs", b"\x00" * (4 * 1024 * 1024 + 1), PROTOBUF)
    assert answer.status_code == 413
    assert "DATACAT_MAX_BATCH_BYTES" in answer.json()["detail"]


def test_without_an_ingest_key_otlp_is_refused(keyed: Keyed) -> None:
    product = _product()
    body = _logs(product, _record("nobody")).SerializeToString()
    assert httpx.post(keyed.url + "/v1/logs", content=body, headers=PROTOBUF).status_code == 401
    read_only = {**bearer(keyed.read), **PROTOBUF}
    assert httpx.post(keyed.url + "/v1/logs", content=body, headers=read_only).status_code == 403
    assert keyed.sessions(product) == []


# -- pure rules --------------------------------------------------------------------------


def test_severity_ranges_map_to_levels() -> None:
    expected = [None] + ["debug"] * 8 + ["info"] * 4 + ["warning"] * 4 + ["error"] * 4
    expected += ["critical"] * 4
    assert [otlpmap.level_of(n) for n in range(25)] == expected


def test_cumulative_series_become_deltas_and_resets_restart_them() -> None:
    memory = otlpmap.SeriesMemory(capacity=2)
    key = ("s", "n", "{}")
    assert memory.get(key) is None
    memory.remember({key: otlpmap.SeriesPoint(1, (5.0,))})
    assert otlpmap._delta(memory.get(key), otlpmap.SeriesPoint(1, (9.0,))) == (4.0,)
    assert otlpmap._delta(memory.get(key), otlpmap.SeriesPoint(1, (2.0,))) == (2.0,)  # went down
    assert otlpmap._delta(memory.get(key), otlpmap.SeriesPoint(2, (7.0,))) == (7.0,)  # restarted
    memory.remember({("s", "a", "{}"): otlpmap.SeriesPoint(1, (1.0,))})
    memory.remember({("s", "b", "{}"): otlpmap.SeriesPoint(1, (1.0,))})
    assert memory.get(key) is None  # the oldest series is forgotten first


def test_a_zip_bomb_is_refused_without_being_inflated() -> None:
    """100 MB of zeros in ~100 kB of gzip: refused while holding little more than the
    limit, because decompression stops as soon as the output passes it."""
    packer = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    zeros = b"\x00" * 1_000_000
    bomb = b"".join(packer.compress(zeros) for _ in range(100)) + packer.flush()
    tracemalloc.start()
    try:
        with pytest.raises(Refused, match="larger than 65536 bytes"):
            inflate(bomb, "gzip", 65_536)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000


def test_exponential_buckets_become_explicit_ones() -> None:
    """Scale 0: base 2, positive bucket i counts (2**i, 2**(i+1)]."""
    point = ExponentialHistogramDataPoint(
        scale=0,
        count=3,
        sum=40.0,
        positive=ExponentialHistogramDataPoint.Buckets(offset=3, bucket_counts=[1, 2]),
    )
    # The lowest bucket's lower bound (8) is kept as an empty bucket, or readers would
    # spread its observations from 0.
    assert otlpmap._exponential(point) == ((8.0, 16.0, 32.0), (0.0, 1.0, 2.0))
    point = ExponentialHistogramDataPoint(
        scale=1,
        count=4,
        zero_count=1,
        zero_threshold=0.5,
        negative=ExponentialHistogramDataPoint.Buckets(offset=0, bucket_counts=[1, 1]),
        positive=ExponentialHistogramDataPoint.Buckets(offset=0, bucket_counts=[1]),
    )
    root2 = 2**0.5
    assert otlpmap._exponential(point) == (
        (-root2, -1.0, 0.5, root2),
        (1.0, 1.0, 1.0, 1.0),
    )
    assert otlpmap._exponential(
        ExponentialHistogramDataPoint(
            scale=-10, positive=ExponentialHistogramDataPoint.Buckets(offset=2, bucket_counts=[1])
        )
    ) == ((), ())  # 2**1024 overflows: mean and count only


def test_a_downscaled_layout_is_subtracted_bucket_by_bucket() -> None:
    before = otlpmap.SeriesPoint(1, (30.0, 2.0, 1.0, 1.0), (10.0, 20.0))
    now = otlpmap.SeriesPoint(1, (70.0, 3.0, 2.0, 1.0), (20.0, 40.0))
    assert otlpmap._delta(before, now) == (40.0, 1.0, 0.0, 1.0)


def test_inflate_stops_at_the_limit_and_reads_every_member() -> None:
    two_members = gzip.compress(b"ab") + gzip.compress(b"cd")
    assert inflate(two_members, "gzip", 4) == b"abcd"
    assert inflate(zlib.compress(b"xyz"), "deflate", 3) == b"xyz"
    with pytest.raises(Refused, match="larger than 3 bytes"):
        inflate(two_members, "gzip", 3)


def test_resource_sessions_are_stable_and_told_apart() -> None:
    one = {"service.name": "a", "service.instance.id": "1"}
    assert otlpmap.session_id_for(None, one) == otlpmap.session_id_for(None, dict(one))
    assert otlpmap.session_id_for(None, one) != otlpmap.session_id_for(
        None, {**one, "service.instance.id": "2"}
    )
    given = "0F3A1C2E-0000-4000-8000-000000000001"
    assert otlpmap.session_id_for(given, one) == given.lower()
