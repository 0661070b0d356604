"""``Session``: the seed's per-session API on top of a queue that never blocks or raises.

With batching on (the default) a logging call validates its arguments, stamps the item with
``time.time()`` and a sequence number, and appends it to the client's outbox — a few
microseconds; the client's worker thread does the rest. Errors never reach the caller
(unless ``strict=True``): they go to the ``datacat_client`` logger and to ``session.errors``.
Reads (``get_details``) flush first, so the seed's "log, then read" examples see their data.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from types import TracebackType
from typing import Any

from datacat_client import _validate
from datacat_client._client import DatacatClient
from datacat_client._core import DEFAULT_URL, Call
from datacat_client._exceptions import DatacatError, InvalidData
from datacat_client._heartbeat import HeartbeatMonitor
from datacat_client._ledger import Ledger
from datacat_client._payloads import ExcInfo, Item, exception_data
from datacat_client._types import BatchConfig, EndStatus, JSONObject, Tags

_now = time.time


class Session:
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
        self.client = client
        self.session_id = session_id
        self.batching = batching
        self.strict = strict
        self._owns_client = owns_client
        self._ledger = Ledger(session_id)
        self._seq = itertools.count(1).__next__
        self._heartbeat_monitor: HeartbeatMonitor | None = None
        self._excepthooks_installed = False
        self._end_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Session {self.session_id} at {self.client.base_url}>"

    # -- outcome of background work -----------------------------------------------------
    @property
    def errors(self) -> deque[DatacatError]:
        """The most recent (up to 1000) errors from this session's writes, oldest first."""
        return self._ledger.errors

    @property
    def dropped(self) -> int:
        """Items accepted by a call but never stored (overflow, refused by the server, exit)."""
        return self._ledger.dropped

    @property
    def delivered(self) -> int:
        """Batched items the server has acknowledged (including duplicates it ignored)."""
        return self._ledger.delivered

    # -- writes -------------------------------------------------------------------------
    def update_state(self, state: JSONObject) -> None:
        """Deep-merge ``state`` into the session's state (snapshotted now)."""
        if not self.batching:
            return self._immediately(
                lambda: self.client._build_update_state(self.session_id, state)
            )
        try:
            body = _validate.json_object_bytes(state)
        except InvalidData as exc:
            return self._refuse(exc)
        self._enqueue((self._ledger, "state", _now(), self._seq(), body, None, None))
        return None

    def log_event(self, name: str, data: Any = None) -> None:
        """An event; ``data`` is any JSON value (snapshotted now)."""
        if not self.batching:
            return self._immediately(
                lambda: self.client._build_log_event(self.session_id, name, data)
            )
        try:
            _validate.name(name)
            body = _validate.json_bytes({} if data is None else data)
        except InvalidData as exc:
            return self._refuse(exc)
        self._enqueue((self._ledger, "event", _now(), self._seq(), name, body, None))
        return None

    def log_event_nowait(self, name: str, data: Any = None) -> None:
        """Same as :meth:`log_event`; the name :class:`DatacatHandler` uses for both faces."""
        self.log_event(name, data)

    def log_metric(self, name: str, value: float, tags: Tags = None) -> None:
        """A numeric sample. The hot path: keep it to checks, a tuple and an append."""
        if not self.batching:
            return self._immediately(
                lambda: self.client._build_log_metric(self.session_id, name, value, tags)
            )
        if type(name) is not str or not 0 < len(name) <= 256 or "\x00" in name:
            return self._refuse_name(name)
        if type(value) is not float:
            try:
                value = float(value)
            except (TypeError, ValueError):
                return self._refuse(InvalidData(f"metric {name!r}: {value!r} is not a number"))
        if value - value != 0.0:  # NaN or ±inf
            return self._refuse(InvalidData(f"metric {name!r}: {value} is not finite"))
        if tags is not None:
            try:
                tags = _validate.tags(tags)
            except InvalidData as exc:
                return self._refuse(exc)
        item = (self._ledger, "metric", _now(), self._seq(), name, value, tags)
        worker = self.client._worker or self.client.batch_worker()
        if not worker.outbox.put(item):
            self._wait_for_room(item)
        return None

    def log_exception(
        self,
        exc_info: ExcInfo | BaseException | None = None,
        extra_data: JSONObject | None = None,
        *,
        fatal: bool = False,
    ) -> None:
        """An ``exception`` event (type, message, traceback lines); call it in ``except:``."""
        self.log_event("exception", exception_data(exc_info, extra_data, fatal=fatal))

    def _enqueue(self, item: Item) -> None:
        worker = self.client._worker or self.client.batch_worker()
        if not worker.outbox.put(item):
            self._wait_for_room(item)

    def _wait_for_room(self, item: Item) -> None:
        """The ``block`` overflow policy: wait for the worker to make room."""
        worker = self.client.batch_worker()
        while not worker.outbox.put(item):
            time.sleep(0.002)
            if not worker.alive:
                worker = self.client.batch_worker()

    def _immediately(self, build: Any) -> None:
        try:
            call: Call = build()
            self.client._send(call)
        except DatacatError as exc:
            self._refuse(exc)

    def _refuse_name(self, name: Any) -> None:
        try:
            _validate.name(name)
        except InvalidData as exc:
            self._refuse(exc)

    def _refuse(self, error: DatacatError) -> None:
        if self.strict:
            raise error
        self._ledger.record(error)

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
                return {"status": "ok"}
            if status not in ("ended", "crashed"):
                self._refuse(InvalidData(f"an end status is 'ended' or 'crashed', not {status!r}"))
                return {"status": "ok"}
            worker = self.client.batch_worker()
            worker.outbox.put_always((self._ledger, "end", _now(), self._seq(), status, None, None))
            if self._owns_client:
                self.client.close_worker(self.client.batch_config.close_timeout)
            else:
                worker.flush(self.client.batch_config.close_timeout)
            return {"status": "ok"}

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
            self.log_exception((exc_type, exc, tb), fatal=True)  # type: ignore[arg-type]
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
) -> Session:
    """Open a session on the server at ``base_url`` (raises if it cannot be reached).

    The session owns its client: ending it stops the client's worker thread.
    """
    client = DatacatClient(base_url, timeout=timeout, batch=batch)
    session_id = client.register_session(product, version, host, metadata, heartbeat_timeout)
    return Session(client, session_id, batching=batching, strict=strict, owns_client=True)
