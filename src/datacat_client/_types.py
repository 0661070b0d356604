"""Type aliases and configuration shared by the sync and async faces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

JSON = Any
JSONObject = dict[str, Any]
Tags = list[str] | dict[str, Any] | None
Overflow = Literal["drop_oldest", "drop_newest", "block"]
EndStatus = Literal["ended", "crashed"]
MetricKind = Literal["gauge", "counter", "timer", "histogram"]
EventLevel = Literal["debug", "info", "warning", "error", "critical"]
Buckets = list[tuple[float | None, int]] | list[dict[str, Any]] | dict[float | None, int]
"""A histogram's buckets: ``(le, count)`` pairs, ``{"le", "count"}`` dicts or ``{le: count}``;
``le`` None (or ``math.inf``) is +Inf."""


@dataclass(frozen=True)
class BatchConfig:
    """How a client's background worker batches session writes.

    ``overflow`` decides what happens when ``max_queue`` items are waiting (the server is
    down or slower than the app): ``"drop_oldest"`` (default) never slows the application
    and counts every dropped item in ``Session.dropped`` and ``Session.errors``;
    ``"drop_newest"`` keeps the oldest data instead; ``"block"`` makes the logging call wait
    for room, so nothing is lost but the application slows to the server's pace.
    """

    flush_at: int = 2000
    """Wake the worker when this many items are waiting."""
    flush_interval: float = 0.2
    """Seconds between flushes of whatever is waiting."""
    max_queue: int = 200_000
    """Items held in memory at most (about 200 bytes each)."""
    overflow: Overflow = "drop_oldest"
    max_batch_items: int = 5000
    """Items per ``POST /api/batch`` (the server's limit)."""
    max_batch_bytes: int = 4 * 1024 * 1024 - 1024
    """Body bytes per ``POST /api/batch`` (the server's 4 MiB limit, less headroom)."""
    initial_backoff: float = 0.1
    max_backoff: float = 5.0
    """Retries of transient failures wait ``min(initial * 2**attempt, max_backoff)`` s."""
    read_flush_timeout: float = 5.0
    """``get_details()`` waits this long for queued writes before reading."""
    close_timeout: float = 10.0
    """``end()``, ``close()`` and interpreter exit wait this long for delivery."""

    def __post_init__(self) -> None:
        if self.overflow not in ("drop_oldest", "drop_newest", "block"):
            raise ValueError(f"unknown overflow policy {self.overflow!r}")
        if self.max_queue < 1 or self.flush_at < 1 or self.max_batch_items < 1:
            raise ValueError("max_queue, flush_at and max_batch_items must be positive")
