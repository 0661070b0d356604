"""Write operations as plain data.

Every write — a single POST, an item of ``POST /api/batch``, a new session — becomes one
of these and goes through the same group-commit writer, so the single and batched paths
share one implementation and one set of rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class CreateSession:
    session_id: str
    product: str | None = None
    version: str | None = None
    host: str | None = None
    metadata: dict[str, Any] | None = None
    heartbeat_timeout_s: float | None = None
    if_absent: bool = False
    """Open the session unless one with this id exists (then use that one): OTLP opens a
    session on first sight, and several processes may see it first at once."""


@dataclass(slots=True)
class UpdateState:
    session_id: str
    patch: dict[str, Any]
    ts_us: int | None = None
    client_id: str | None = None


@dataclass(slots=True)
class LogEvent:
    session_id: str
    name: str
    data: Any = None
    ts_us: int | None = None
    client_id: str | None = None
    # Issue 12; None is stored as NULL and read as the default (level "info").
    level: str | None = None
    message: str | None = None
    category: str | None = None
    labels: list[str] | None = None
    # Migration 0005: set on ``exception`` events only (``datacat.fingerprint``), by
    # ``api.toops`` from the data, so every ingest path groups alike; None elsewhere.
    fingerprint: str | None = None
    fatal: bool | None = None
    # ``data`` as stored JSON text, when whoever built the op had it (``api.toops``): the
    # limits' check and the planner's row then share one encoding instead of two.
    data_json: str | None = None


@dataclass(slots=True)
class LogMetric:
    session_id: str
    name: str
    value: float
    tags: Any = None
    ts_us: int | None = None
    client_id: str | None = None
    # Issue 12; None is stored as NULL and read as the default (kind "gauge").
    kind: str | None = None
    unit: str | None = None
    # A pre-aggregated histogram (migration 0006): ``value`` is then the mean, these are
    # its count and its (le, count) buckets, le None = +Inf (``datacat.histogram``).
    observations: int | None = None
    buckets: tuple[tuple[float | None, int], ...] | None = None


@dataclass(slots=True)
class Heartbeat:
    session_id: str
    timeout_s: float | None = None


@dataclass(slots=True)
class EndSession:
    session_id: str
    crashed: bool = False


Op = CreateSession | UpdateState | LogEvent | LogMetric | Heartbeat | EndSession


@dataclass(slots=True)
class WriteResult:
    """What one unit of work did: rows stored and client ids recognised as repeats."""

    accepted: int = 0
    duplicates: int = 0
    missing: list[int] = field(default_factory=list)
