"""``AsyncSession``: :class:`Session`'s API for asyncio applications.

``async with AsyncSession.create(url, product="x") as s:`` opens the session, and on exit
delivers what is queued and ends it (as crashed if an exception escapes). Writes are
queued and sent by the client's worker task, exactly as in the sync face.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Generator
from types import TracebackType
from typing import Any

from datacat_client import _validate
from datacat_client._client import AsyncDatacatClient
from datacat_client._core import DEFAULT_URL, Call
from datacat_client._exceptions import DatacatError, InvalidData
from datacat_client._heartbeat import AsyncHeartbeatMonitor
from datacat_client._ledger import Ledger
from datacat_client._payloads import ExcInfo, Item, exception_data
from datacat_client._types import BatchConfig, EndStatus, JSONObject, Tags

_now = time.time


class AsyncSession:
    def __init__(
        self,
        client: AsyncDatacatClient,
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
    ) -> _Opening:
        """Open a session; ``await`` it, or ``async with`` it to end it on exit."""

        async def open_session() -> AsyncSession:
            client = AsyncDatacatClient(base_url, timeout=timeout, batch=batch)
            try:
                session_id = await client.register_session(
                    product, version, host, metadata, heartbeat_timeout
                )
            except BaseException:
                await client.aclose()
                raise
            return cls(client, session_id, batching=batching, strict=strict, owns_client=True)

        return _Opening(open_session())

    def __repr__(self) -> str:
        return f"<AsyncSession {self.session_id} at {self.client.base_url}>"

    @property
    def errors(self) -> deque[DatacatError]:
        return self._ledger.errors

    @property
    def dropped(self) -> int:
        return self._ledger.dropped

    @property
    def delivered(self) -> int:
        return self._ledger.delivered

    # -- writes ---------------------------------------------------------------------------
    async def update_state(self, state: JSONObject) -> None:
        if not self.batching:
            return await self._immediately(
                lambda: self.client._build_update_state(self.session_id, state)
            )
        try:
            body = _validate.json_object_bytes(state)
        except InvalidData as exc:
            return self._refuse(exc)
        await self._enqueue((self._ledger, "state", _now(), self._seq(), body, None, None))
        return None

    async def log_event(self, name: str, data: Any = None) -> None:
        if not self.batching:
            return await self._immediately(
                lambda: self.client._build_log_event(self.session_id, name, data)
            )
        item = self._event_item(name, data)
        if item is not None:
            await self._enqueue(item)

    def log_event_nowait(self, name: str, data: Any = None) -> None:
        """Queue an event without awaiting (for sync callers such as logging handlers)."""
        if not self.batching:
            self._spawn(self.log_event(name, data))
            return
        item = self._event_item(name, data)
        if item is not None:
            self.client.batch_worker().outbox.put_or_drop(item)

    def _event_item(self, name: str, data: Any) -> Item | None:
        try:
            _validate.name(name)
            body = _validate.json_bytes({} if data is None else data)
        except InvalidData as exc:
            self._refuse(exc)
            return None
        return (self._ledger, "event", _now(), self._seq(), name, body, None)

    async def log_metric(self, name: str, value: float, tags: Tags = None) -> None:
        if not self.batching:
            return await self._immediately(
                lambda: self.client._build_log_metric(self.session_id, name, value, tags)
            )
        try:
            _validate.name(name)
            number = _validate.number(value)
            checked_tags = None if tags is None else _validate.tags(tags)
        except InvalidData as exc:
            return self._refuse(exc)
        await self._enqueue(
            (self._ledger, "metric", _now(), self._seq(), name, number, checked_tags)
        )
        return None

    async def log_exception(
        self,
        exc_info: ExcInfo | BaseException | None = None,
        extra_data: JSONObject | None = None,
        *,
        fatal: bool = False,
    ) -> None:
        await self.log_event("exception", exception_data(exc_info, extra_data, fatal=fatal))

    async def _enqueue(self, item: Item) -> None:
        worker = self.client.batch_worker()
        while not worker.outbox.put(item):  # the "block" policy: yield until there is room
            await asyncio.sleep(0.002)
            worker = self.client.batch_worker()

    async def _immediately(self, build: Any) -> None:
        try:
            call: Call = build()
            await self.client._send(call)
        except DatacatError as exc:
            self._refuse(exc)

    def _refuse(self, error: DatacatError) -> None:
        if self.strict:
            raise error
        self._ledger.record(error)

    def _spawn(self, work: Any) -> None:
        future = asyncio.ensure_future(work)
        self._background.add(future)
        future.add_done_callback(self._background.discard)

    # -- flushing, reads, the end -----------------------------------------------------------
    async def flush(self, timeout: float | None = None) -> bool:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        worker = self.client._worker
        return await worker.flush(timeout) if worker is not None else True

    async def get_details(self) -> dict[str, Any]:
        await self.flush(self.client.batch_config.read_flush_timeout)
        return await self.client.get_session(self.session_id)

    async def end(self, status: EndStatus = "ended") -> dict[str, Any]:
        """As ``Session.end``: answers ``{"status": "ok"}``; failures go to ``errors``."""
        await self.stop_heartbeat_monitor()
        if not self.batching:
            await self._immediately(lambda: self.client._build_end(self.session_id, status))
        elif status not in ("ended", "crashed"):
            self._refuse(InvalidData(f"an end status is 'ended' or 'crashed', not {status!r}"))
        else:
            worker = self.client.batch_worker()
            worker.outbox.put_always((self._ledger, "end", _now(), self._seq(), status, None, None))
            await self.flush(self.client.batch_config.close_timeout)
        if self._owns_client:
            await self.client.aclose()
        return {"status": "ok"}

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
            await self.log_exception((exc_type, exc, tb), fatal=True)  # type: ignore[arg-type]
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
        monitor = self._heartbeat_monitor
        if monitor is not None:
            monitor.heartbeat()

    async def stop_heartbeat_monitor(self) -> None:
        monitor, self._heartbeat_monitor = self._heartbeat_monitor, None
        if monitor is not None:
            await monitor.stop()


class _Opening:
    """What ``AsyncSession.create`` returns: awaitable, and an async context manager."""

    def __init__(self, opening: Any) -> None:
        self._opening = opening
        self._session: AsyncSession | None = None

    def __await__(self) -> Generator[Any, None, AsyncSession]:
        return self._opening.__await__()  # type: ignore[no-any-return]

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
