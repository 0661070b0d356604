"""``AsyncSession``: :class:`Session`'s API for asyncio applications.

``async with AsyncSession.create(url, product="x") as s:`` opens the session, and on exit
delivers what is queued and ends it (as crashed if an exception escapes). Writes are
queued and sent by the client's worker task. The rules are
:class:`~datacat_client._session_core.SessionCore`'s, the same as the sync face's; this is
the awaiting shell around them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Generator
from types import TracebackType
from typing import Any

from datacat_client import _validate
from datacat_client._client import AsyncDatacatClient
from datacat_client._core import DEFAULT_URL, Call
from datacat_client._exceptions import DatacatError, InvalidData
from datacat_client._heartbeat import AsyncHeartbeatMonitor
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


class AsyncSession(SessionCore[AsyncDatacatClient]):
    def __init__(
        self,
        client: AsyncDatacatClient,
        session_id: str,
        *,
        batching: bool = True,
        strict: bool = False,
        owns_client: bool = False,
    ) -> None:
        super().__init__(
            client, session_id, batching=batching, strict=strict, owns_client=owns_client
        )
        self._heartbeat_monitor: AsyncHeartbeatMonitor | None = None
        self._background: set[asyncio.Future[Any]] = set()

    @classmethod
    def create(
        cls,
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
    ) -> _Opening:
        """Open a session; ``await`` it, or ``async with`` it to end it on exit.

        ``api_key`` defaults to ``$DATACAT_API_KEY``."""

        async def open_session() -> AsyncSession:
            client = AsyncDatacatClient(base_url, timeout=timeout, batch=batch, api_key=api_key)
            try:
                session_id = await client.register_session(
                    product, version, host, metadata, heartbeat_timeout
                )
            except BaseException:
                await client.aclose()
                raise
            return cls(client, session_id, batching=batching, strict=strict, owns_client=True)

        return _Opening(open_session())

    # -- writes ---------------------------------------------------------------------------
    async def update_state(self, state: JSONObject) -> None:
        if not self.batching:
            return await self._immediately(
                lambda: self.client._build_update_state(self.session_id, state)
            )
        waiting = self._queue_state(state)
        if waiting is not None:
            await self._wait_for_room(waiting)
        return None

    async def log_event(
        self,
        name: str,
        data: Any = None,
        *,
        level: EventLevel | None = None,
        message: str | None = None,
        category: str | None = None,
        labels: list[str] | None = None,
    ) -> None:
        fields = event_extras(level, message, category, labels)
        if not self.batching:
            return await self._immediately(
                lambda: self.client._build_log_event(
                    self.session_id, name, data, None, None, validated_event_fields(fields)
                )
            )
        waiting = self._queue_event(name, data, fields)
        if waiting is not None:
            await self._wait_for_room(waiting)
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
        """Queue an event without awaiting (for sync callers such as logging handlers).

        Under the ``block`` policy a full queue cannot be waited for here: the event is
        dropped and counted instead."""
        fields = event_extras(level, message, category, labels)
        if not self.batching:
            self._spawn(
                self.log_event(
                    name, data, level=level, message=message, category=category, labels=labels
                )
            )
            return
        waiting = self._queue_event(name, data, fields)
        if waiting is not None:
            self.client.batch_worker().outbox.put_or_drop(waiting)

    async def log_metric(
        self,
        name: str,
        value: float,
        tags: Tags = None,
        *,
        kind: MetricKind | None = None,
        unit: str | None = None,
    ) -> None:
        if not self.batching:
            return await self._immediately(
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
            await self._wait_for_room(waiting)
        return None

    def log_metric_nowait(
        self,
        name: str,
        value: float,
        tags: Tags = None,
        *,
        kind: MetricKind | None = None,
        unit: str | None = None,
    ) -> None:
        """Queue a metric without awaiting (the timer records this way, from ``with``).

        Under the ``block`` policy a full queue drops and counts the sample instead."""
        if not self.batching:
            self._spawn(self.log_metric(name, value, tags, kind=kind, unit=unit))
            return
        waiting = self._queue_metric(name, value, tags, kind, unit)
        if waiting is not None:
            self.client.batch_worker().outbox.put_or_drop(waiting)

    async def counter(
        self, name: str, by: float = 1, tags: Tags = None, *, unit: str | None = None
    ) -> None:
        """Count something: a ``counter`` sample of ``by`` (a delta, summed when read)."""
        await self.log_metric(name, by, tags, kind="counter", unit=unit)

    async def observe(
        self, name: str, value: float, tags: Tags = None, *, unit: str | None = None
    ) -> None:
        """One observation of a distribution: kind ``histogram``."""
        await self.log_metric(name, value, tags, kind="histogram", unit=unit)

    async def histogram(
        self,
        name: str,
        buckets: Buckets,
        *,
        sum: float,
        count: int | None = None,
        tags: Tags = None,
        unit: str | None = None,
    ) -> None:
        """Many observations at once, pre-aggregated: see ``Session.histogram``."""
        try:
            fields = _validate.histogram_fields(buckets, sum, count, unit)
        except InvalidData as exc:
            self._refuse(exc)
            return None
        value = histogram_value(fields)
        if not self.batching:
            return await self._immediately(
                lambda: self.client._build_log_metric(
                    self.session_id, name, value, tags, None, None, fields
                )
            )
        waiting = self._queue_metric(name, value, tags, histogram=fields)
        if waiting is not None:
            await self._wait_for_room(waiting)
        return None

    def timer(self, name: str, tags: Tags = None) -> Timer:
        """``with``/``async with session.timer("load"):`` or ``@session.timer("load")`` on a
        coroutine function: kind timer, in ms, queued without awaiting."""
        return Timer(lambda ms: self.log_metric_nowait(name, ms, tags, kind="timer", unit="ms"))

    async def log_exception(
        self,
        exc_info: ExcInfo | BaseException | None = None,
        extra_data: JSONObject | None = None,
        *,
        fatal: bool = False,
    ) -> None:
        await self.log_event("exception", exception_data(exc_info, extra_data, fatal=fatal))

    async def _wait_for_room(self, item: Item) -> None:
        """The ``block`` overflow policy: yield to the worker until there is room."""
        worker = self.client.batch_worker()
        while not worker.outbox.put(item):
            await asyncio.sleep(0.002)
            worker = self.client.batch_worker()

    async def _immediately(self, build: Callable[[], Call[object]]) -> None:
        if self._refused_before():
            return
        try:
            await self.client._send(build())
        except DatacatError as exc:
            self._refuse(exc)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        future = asyncio.ensure_future(work)
        self._background.add(future)
        future.add_done_callback(self._background.discard)

    async def _settle_background(self) -> None:
        """Unbatched ``log_event_nowait`` calls still on their way."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    # -- flushing, reads, the end -----------------------------------------------------------
    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything logged so far is delivered (or given up); False on timeout."""
        await self._settle_background()
        if not self.batching:
            return True
        worker = self.client._worker
        return await worker.flush(timeout) if worker is not None else True

    async def get_details(self) -> dict[str, Any]:
        """The session object from the server, after flushing the queued writes."""
        await self._settle_background()
        return await self.client.get_session(self.session_id)

    async def end(self, status: EndStatus = "ended") -> dict[str, Any]:
        """As ``Session.end``: answers ``{"status": "ok"}``; failures go to ``errors``."""
        await self.stop_heartbeat_monitor()
        await self._settle_background()
        if not self.batching:
            await self._immediately(lambda: self.client._build_end(self.session_id, status))
        elif self._queue_end(status):
            close_timeout = self.client.batch_config.close_timeout
            if self._owns_client:
                await self.client.close_worker(close_timeout)
            else:
                await self.client.batch_worker().flush(close_timeout)
        return end_answer()

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.end()
        else:
            await self.log_exception((exc_type, exc, tb), fatal=True)
            await self.end("crashed")

    # -- liveness ---------------------------------------------------------------------------
    def start_heartbeat_monitor(
        self,
        timeout: float = 60,
        check_interval: float = 5,
        *,
        keepalive_timeout: float | None = None,
    ) -> AsyncHeartbeatMonitor:
        """Start the monitor task (call from inside the running loop)."""
        if self._heartbeat_monitor is None:
            self._heartbeat_monitor = AsyncHeartbeatMonitor(
                self, timeout, check_interval, keepalive_timeout=keepalive_timeout
            )
        return self._heartbeat_monitor.start()

    def heartbeat(self) -> None:
        """Tell the monitor the application is alive (a no-op without a monitor)."""
        monitor = self._heartbeat_monitor
        if monitor is not None:
            monitor.heartbeat()

    async def stop_heartbeat_monitor(self) -> None:
        monitor, self._heartbeat_monitor = self._heartbeat_monitor, None
        if monitor is not None:
            await monitor.stop()


class _Opening:
    """What ``AsyncSession.create`` returns: awaitable, and an async context manager."""

    def __init__(self, opening: Coroutine[Any, Any, AsyncSession]) -> None:
        self._opening = opening
        self._session: AsyncSession | None = None

    def __await__(self) -> Generator[Any, None, AsyncSession]:
        return self._opening.__await__()

    async def __aenter__(self) -> AsyncSession:
        self._session = await self._opening
        return self._session

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._session is not None
        await self._session.__aexit__(exc_type, exc, tb)
