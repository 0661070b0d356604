"""``Session``: the seed's per-session API on top of a queue that never blocks or raises.

With batching on (the default) a logging call validates its arguments, stamps the item with
``time.time()`` and a sequence number, and appends it to the client's outbox — a few
microseconds; the client's worker thread does the rest. Errors never reach the caller
(unless ``strict=True``): they go to the ``datacat_client`` logger and to ``session.errors``.
Reads (``get_details``) flush first, so the seed's "log, then read" examples see their data.
The rules are :class:`~datacat_client._session_core.SessionCore`'s; this is the blocking
shell around them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from datacat_client import _validate
from datacat_client._client import DatacatClient
from datacat_client._core import DEFAULT_URL, Call
from datacat_client._exceptions import DatacatError, InvalidData
from datacat_client._heartbeat import HeartbeatMonitor
from datacat_client._payloads import ExcInfo, Item, exception_data
from datacat_client._session_core import (
    SessionCore,
    end_answer,
    event_extras,
    histogram_value,
    validated_event_fields,
)
from datacat_client._timer import Timer
from datacat_client._types import (
    BatchConfig,
    Buckets,
    EndStatus,
    EventLevel,
    JSONObject,
    MetricKind,
    Tags,
)


class Session(SessionCore[DatacatClient]):
    """One session. ``Session(client, session_id)`` as in the seed; see :func:`create_session`."""

    def __init__(
        self,
        client: DatacatClient,
        session_id: str,
        *,
        batching: bool = True,
        strict: bool = False,
        owns_client: bool = False,
    ) -> None:
        super().__init__(
            client, session_id, batching=batching, strict=strict, owns_client=owns_client
        )
        self._heartbeat_monitor: HeartbeatMonitor | None = None
        self._excepthooks_installed = False
        self._end_lock = threading.Lock()

    # -- writes -------------------------------------------------------------------------
    def update_state(self, state: JSONObject) -> None:
        """Deep-merge ``state`` into the session's state (snapshotted now)."""
        if not self.batching:
            return self._immediately(
                lambda: self.client._build_update_state(self.session_id, state)
            )
        waiting = self._queue_state(state)
        if waiting is not None:
            self._wait_for_room(waiting)
        return None

    def log_event(
        self,
        name: str,
        data: Any = None,
        *,
        level: EventLevel | None = None,
        message: str | None = None,
        category: str | None = None,
        labels: list[str] | None = None,
    ) -> None:
        """An event; ``data`` is any JSON value (snapshotted now). The server's default
        level is ``info``; ``message`` is one searchable line, ``data`` carries the rest."""
        fields = event_extras(level, message, category, labels)
        if not self.batching:
            return self._immediately(
                lambda: self.client._build_log_event(
                    self.session_id, name, data, None, None, validated_event_fields(fields)
                )
            )
        waiting = self._queue_event(name, data, fields)
        if waiting is not None:
            self._wait_for_room(waiting)
        return None

    def log_event_nowait(
        self,
        name: str,
        data: Any = None,
        *,
        level: EventLevel | None = None,
        message: str | None = None,
        category: str | None = None,
        labels: list[str] | None = None,
    ) -> None:
        """Same as :meth:`log_event`; the name :class:`DatacatHandler` uses for both faces."""
        self.log_event(name, data, level=level, message=message, category=category, labels=labels)

    def log_metric(
        self,
        name: str,
        value: float,
        tags: Tags = None,
        *,
        kind: MetricKind | None = None,
        unit: str | None = None,
    ) -> None:
        """A numeric sample: a few checks, a tuple and an append. ``kind`` defaults to
        ``gauge`` on the server; ``unit`` is free text (``ms``, ``bytes``, ``%``)."""
        if not self.batching:
            return self._immediately(
                lambda: self.client._build_log_metric(
                    self.session_id,
                    name,
                    value,
                    tags,
                    None,
                    None,
                    _validate.metric_fields(kind, unit),
                )
            )
        waiting = self._queue_metric(name, value, tags, kind, unit)
        if waiting is not None:
            self._wait_for_room(waiting)
        return None

    def counter(
        self, name: str, by: float = 1, tags: Tags = None, *, unit: str | None = None
    ) -> None:
        """Count something: a ``counter`` sample of ``by`` (a delta, summed when read)."""
        self.log_metric(name, by, tags, kind="counter", unit=unit)

    def observe(
        self, name: str, value: float, tags: Tags = None, *, unit: str | None = None
    ) -> None:
        """One observation of a distribution (a request size, a queue length): ``histogram``."""
        self.log_metric(name, value, tags, kind="histogram", unit=unit)

    def histogram(
        self,
        name: str,
        buckets: Buckets,
        *,
        sum: float,
        count: int | None = None,
        tags: Tags = None,
        unit: str | None = None,
    ) -> None:
        """Many observations at once, pre-aggregated (a hot loop's frame times): ``buckets``
        as ``[(16.7, 950), (33.3, 40), (None, 10)]`` (each bucket's own count, ``le`` None
        = +Inf), their ``sum``; ``count`` defaults to the buckets' total. Percentiles on
        the server interpolate within buckets."""
        try:
            fields = _validate.histogram_fields(buckets, sum, count, unit)
        except InvalidData as exc:
            self._refuse(exc)
            return None
        value = histogram_value(fields)
        if not self.batching:
            return self._immediately(
                lambda: self.client._build_log_metric(
                    self.session_id, name, value, tags, None, None, fields
                )
            )
        waiting = self._queue_metric(name, value, tags, histogram=fields)
        if waiting is not None:
            self._wait_for_room(waiting)
        return None

    def timer(self, name: str, tags: Tags = None) -> Timer:
        """``with session.timer("load"):`` or ``@session.timer("load")``: kind timer, in ms."""
        return Timer(lambda ms: self.log_metric(name, ms, tags, kind="timer", unit="ms"))

    def log_exception(
        self,
        exc_info: ExcInfo | BaseException | None = None,
        extra_data: JSONObject | None = None,
        *,
        fatal: bool = False,
    ) -> None:
        """An ``exception`` event (type, message, traceback lines); call it in ``except:``."""
        self.log_event("exception", exception_data(exc_info, extra_data, fatal=fatal))

    def _wait_for_room(self, item: Item) -> None:
        """The ``block`` overflow policy: wait for the worker to make room."""
        worker = self.client.batch_worker()
        while not worker.outbox.put(item):
            time.sleep(0.002)
            if not worker.alive:
                worker = self.client.batch_worker()

    def _immediately(self, build: Callable[[], Call[object]]) -> None:
        if self._refused_before():
            return
        try:
            self.client._send(build())
        except DatacatError as exc:
            self._refuse(exc)

    # -- flushing, reads, the end ---------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything logged so far is delivered (or given up); False on timeout."""
        if not self.batching:
            return True
        worker = self.client._worker
        return worker.flush(timeout) if worker is not None else True

    def get_details(self) -> dict[str, Any]:
        """The session object from the server, after flushing the queued writes."""
        return self.client.get_session(self.session_id)

    def end(self, status: EndStatus = "ended") -> dict[str, Any]:
        """Stop the monitor, deliver what is queued, end the session (``"crashed"`` allowed).

        Answers ``{"status": "ok"}`` as the seed's client did; like every session call it
        does not raise (unless ``strict``): a failure is in ``errors``."""
        with self._end_lock:
            self.stop_heartbeat_monitor()
            if not self.batching:
                self._immediately(lambda: self.client._build_end(self.session_id, status))
            elif self._queue_end(status):
                close_timeout = self.client.batch_config.close_timeout
                if self._owns_client:
                    self.client.close_worker(close_timeout)
                else:
                    self.client.batch_worker().flush(close_timeout)
            return end_answer()

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """End the session; if an exception escapes, log it as fatal and end as crashed."""
        if exc_type is None:
            self.end()
        else:
            self.log_exception((exc_type, exc, tb), fatal=True)
            self.end("crashed")

    # -- liveness -------------------------------------------------------------------------
    def start_heartbeat_monitor(
        self,
        timeout: float = 60,
        check_interval: float = 5,
        *,
        keepalive_timeout: float | None = None,
    ) -> HeartbeatMonitor:
        """Log ``application_appears_hung`` when ``heartbeat()`` stops for ``timeout`` s."""
        if self._heartbeat_monitor is None:
            self._heartbeat_monitor = HeartbeatMonitor(
                self,
                timeout=timeout,
                check_interval=check_interval,
                keepalive_timeout=keepalive_timeout,
            )
        return self._heartbeat_monitor.start()

    def heartbeat(self) -> None:
        """Tell the monitor the application is alive (a no-op without a monitor)."""
        monitor = self._heartbeat_monitor
        if monitor is not None:
            monitor.heartbeat()

    def stop_heartbeat_monitor(self) -> None:
        monitor, self._heartbeat_monitor = self._heartbeat_monitor, None
        if monitor is not None:
            monitor.stop()

    def install_excepthook(self) -> None:
        """Record uncaught exceptions (main thread and threads) as fatal; see ``_excepthook``."""
        from datacat_client._excepthook import install

        if not self._excepthooks_installed:
            install(self)
            self._excepthooks_installed = True


def create_session(
    base_url: str = DEFAULT_URL,
    *,
    product: str | None = None,
    version: str | None = None,
    host: str | None = None,
    metadata: JSONObject | None = None,
    heartbeat_timeout: float | None = None,
    batching: bool = True,
    strict: bool = False,
    batch: BatchConfig | None = None,
    timeout: float = 10.0,
    api_key: str | None = None,
) -> Session:
    """Open a session on the server at ``base_url`` (raises if it cannot be reached).

    The session owns its client: ending it stops the client's worker thread. ``api_key``
    defaults to ``$DATACAT_API_KEY``.
    """
    client = DatacatClient(base_url, timeout=timeout, batch=batch, api_key=api_key)
    session_id = client.register_session(product, version, host, metadata, heartbeat_timeout)
    return Session(client, session_id, batching=batching, strict=strict, owns_client=True)
