"""What datacat tells Prometheus: the metric objects, and the text a scrape answers.

Counted as things happen (per request a dict look-up and a few additions, see
``RequestStats``): requests by route template and status, request latency, the writer's
group sizes, queue depth and rows written per table, sweeper runs. Read from the database
when scraped (``store.vitals``): sessions by product and status (the ``top`` products by
session count by name, the rest as ``other``, so a program inventing product names cannot
blow up the series count), the last day's sessions of the releases with the latest
activity by status (what a crash-free alert divides), and the database's size.

With ``--workers N`` each worker counts in its own memory-mapped file under
``PROMETHEUS_MULTIPROC_DIR`` (``datacat serve`` makes a fresh directory per start), and
whichever worker a scrape reaches adds them all up: counters and histograms are summed
over every process that ever ran in this start, the queue depth over the live ones.
prometheus_client chooses this mode when it is imported, from that variable alone.
"""

from __future__ import annotations

import asyncio
import os
from bisect import bisect_left
from collections.abc import Mapping

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from datacat.store.vitals import Vitals

MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR" in os.environ
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""What ``generate_latest`` writes: the classic text format every Prometheus reads."""
OTHER = "other"

disable_created_metrics()  # type: ignore[no-untyped-call]  # a _created series per child: noise
REGISTRY = CollectorRegistry()
"""This process's own metrics; in multi-process mode only the files matter, not this."""

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REQUESTS = Counter(
    "datacat_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ("method", "route", "status"),
    registry=REGISTRY,
)
LATENCY = Histogram(
    "datacat_http_request_duration_seconds",
    "Time from a request's arrival to its last response byte, by method and route template.",
    ("method", "route"),
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
GROUP_OPS = Histogram(
    "datacat_writer_group_ops",
    "Writes (ops) per committed group of the group-commit writer.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "datacat_writer_queue_depth",
    "Write units waiting for the writer, as of its last commit or this scrape.",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
ROWS_WRITTEN = Counter(
    "datacat_rows_written",
    "Rows inserted by the writer, by table.",
    ("table",),
    registry=REGISTRY,
)
SWEEPS = Counter(
    "datacat_sweeper_runs",
    "Passes of the abandoned-session sweeper, by outcome (ok, failed).",
    ("outcome",),
    registry=REGISTRY,
)
SWEPT = Counter(
    "datacat_sessions_marked_abandoned",
    "Sessions the sweeper marked abandoned.",
    registry=REGISTRY,
)
if not MULTIPROCESS:  # one process's CPU and memory mean nothing summed over workers
    ProcessCollector(registry=REGISTRY)

_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"))
_BOUNDS = (*LATENCY_BUCKETS, float("inf"))
FLUSH_INTERVAL_S = 1.0
"""How stale a scrape of another worker's requests may be (its own are flushed first)."""


class _Tally:
    __slots__ = ("buckets", "count", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.buckets = [0] * len(_BOUNDS)


class RequestStats:
    """Requests tallied in plain Python, moved into the Prometheus metrics by ``flush``.

    prometheus_client takes a lock per update, and with several workers every update is
    a write to a memory-mapped file: a counter and a histogram per request cost ~9 µs that
    way, against ~1 µs for these tallies. ``flush`` runs once a second and before every
    scrape, so a scrape sees this process's requests exactly and other workers' as of
    their last second.
    """

    def __init__(self) -> None:
        self._tallies: dict[tuple[str, str, int], _Tally] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        if method not in _METHODS:
            method = OTHER  # any token is a valid method: never one series per invention
        key = (method, route, status)
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = _Tally()
        tally.count += 1
        tally.total += seconds
        tally.buckets[bisect_left(_BOUNDS, seconds)] += 1

    def flush(self) -> None:
        tallies, self._tallies = self._tallies, {}
        for (method, route, status), tally in tallies.items():
            REQUESTS.labels(method, route, str(status)).inc(tally.count)
            # What Histogram.observe does per value (prometheus_client 0.26, locked),
            # done once per bucket: its sum, and the one bucket each value falls in.
            latency = LATENCY.labels(method, route)
            latency._sum.inc(tally.total)
            for bucket, count in zip(latency._buckets, tally.buckets, strict=True):
                if count:
                    bucket.inc(count)


REQUEST_STATS = RequestStats()
"""The process's tallies, like the metrics they feed: one per process, however many apps."""


def group_committed(ops: int, rows: Mapping[str, int], queue_depth: int) -> None:
    """The writer committed a group of ``ops`` writes inserting ``rows`` per table."""
    GROUP_OPS.observe(ops)
    for table, count in rows.items():
        if count:
            ROWS_WRITTEN.labels(table).inc(count)
    QUEUE_DEPTH.set(queue_depth)


def sweep_done(marked: int) -> None:
    SWEEPS.labels("ok").inc()
    if marked:
        SWEPT.inc(marked)


def sweep_failed() -> None:
    SWEEPS.labels("failed").inc()


class _VitalsCollector(Collector):
    """Families read from the database at scrape time: the same in every worker."""

    def __init__(self, vitals: Vitals | None) -> None:
        self.vitals = vitals

    def collect(self) -> list[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "datacat_database_up",
            "1 when this scrape could read the database, 0 when it could not.",
            value=0 if self.vitals is None else 1,
        )
        if self.vitals is None:
            return [up]
        sessions = GaugeMetricFamily(
            "datacat_sessions",
            "Sessions by product and status; the top products by session count by name, "
            f"the rest as product={OTHER!r}, no product as product=''.",
            labels=("product", "status"),
        )
        for (product, status), count in sorted(self.vitals.sessions.items()):
            sessions.add_metric((product, status), count)
        releases = GaugeMetricFamily(
            "datacat_release_sessions_24h",
            "Sessions created in the last 24 hours by product, version and status, for the "
            "releases with the most recent activity; crash-free rate = 1 - crashed / all.",
            labels=("product", "version", "status"),
        )
        for labels, count in sorted(self.vitals.releases.items()):
            releases.add_metric(labels, count)
        families = [up, sessions, releases]
        if self.vitals.database_bytes is not None:
            families.append(
                GaugeMetricFamily(
                    "datacat_database_size_bytes",
                    "Size of the database: the SQLite file and its WAL, or PostgreSQL's "
                    "pg_database_size.",
                    value=self.vitals.database_bytes,
                )
            )
        return families


def exposition(vitals: Vitals | None, queue_depth: int) -> bytes:
    """The scrape's answer: this process's (or every worker's) counts, then ``vitals``
    (None when the database could not be read: ``datacat_database_up 0``)."""
    QUEUE_DEPTH.set(queue_depth)
    REQUEST_STATS.flush()
    if MULTIPROCESS:
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)  # type: ignore[no-untyped-call]
    else:
        counted = REGISTRY
    read = CollectorRegistry()
    read.register(_VitalsCollector(vitals))
    return generate_latest(counted) + generate_latest(read)


async def flush_forever() -> None:
    while True:
        await asyncio.sleep(FLUSH_INTERVAL_S)
        REQUEST_STATS.flush()


def process_exiting() -> None:
    """Count the last requests, and drop this worker's live gauges from the sums (its
    counters stay: they are what it counted)."""
    REQUEST_STATS.flush()
    if MULTIPROCESS:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
