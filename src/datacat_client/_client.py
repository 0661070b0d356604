"""``DatacatClient`` and ``AsyncDatacatClient``: the same API calls, blocking and awaited.

Each public method is one line: build the :class:`~datacat_client._core.Call` (shared),
send it with this face's httpx client, parse the answer (shared). The calls are immediate
and raise :class:`~datacat_client.DatacatError` subclasses; the never-raising, batched path
is :class:`~datacat_client.Session`.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any, TypeVar

import httpx

from datacat_client import _validate
from datacat_client._async_worker import AsyncBatchWorker
from datacat_client._core import DEFAULT_URL, BaseClient, Call, Outcome, Timestamp, mapped_errors
from datacat_client._exceptions import DatacatError
from datacat_client._payloads import ExcInfo
from datacat_client._types import (
    BatchConfig,
    EndStatus,
    EventLevel,
    JSONObject,
    MetricKind,
    Tags,
)
from datacat_client._worker import BatchWorker

T = TypeVar("T")


class DatacatClient(BaseClient):
    """Blocking client. ``transport`` lets tests swap in ``httpx.MockTransport``.

    ``api_key`` (default ``$DATACAT_API_KEY``; ``""`` for none) is sent as
    ``Authorization: Bearer KEY`` with every request, its sessions' batches included.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        timeout: float = 10.0,
        batch: BatchConfig | None = None,
        transport: httpx.BaseTransport | None = None,
        api_key: str | None = None,
    ) -> None:
        super().__init__(base_url, timeout=timeout, api_key=api_key)
        self.batch_config = batch or BatchConfig()
        self._http = httpx.Client(transport=transport, **self._http_options())
        self._worker: BatchWorker | None = None
        self._worker_lock = threading.Lock()

    def _send(self, call: Call[T]) -> T:
        with mapped_errors():
            response = self._http.request(call.method, call.path, content=call.body)
        return self._parse(call, response)

    def _send_batch_body(self, body: bytes) -> Outcome:
        try:
            with mapped_errors():
                response = self._http.post("/api/batch", content=body)
        except DatacatError as exc:
            return Outcome(None, error=exc)
        return self._outcome(response)

    def batch_worker(self) -> BatchWorker:
        """The background worker shared by this client's batching sessions (started lazily)."""
        with self._worker_lock:
            if self._worker is None or not self._worker.alive:
                self._worker = BatchWorker(self._send_batch_body, self.batch_config)
            return self._worker

    def close_worker(self, timeout: float | None = None) -> bool:
        with self._worker_lock:
            worker, self._worker = self._worker, None
        return worker.close(timeout) if worker is not None else True

    def close(self) -> None:
        """Deliver what is queued (up to ``close_timeout``), then close the connection pool."""
        self.close_worker(self.batch_config.close_timeout)
        self._http.close()

    def __enter__(self) -> DatacatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the seed's API, plus keyword extras --------------------------------------------
    def register_session(
        self,
        product: str | None = None,
        version: str | None = None,
        host: str | None = None,
        metadata: JSONObject | None = None,
        heartbeat_timeout: float | None = None,
    ) -> str:
        """Open a session; returns its id."""
        call = self._build_register(product, version, host, metadata, heartbeat_timeout)
        return self._send(call)

    def _flush_queued(self) -> None:
        """Reads see this client's own writes: what its sessions queued is delivered first
        (waiting at most ``read_flush_timeout``), as the seed's unbatched client did."""
        worker = self._worker
        if worker is not None and worker.alive:
            worker.flush(self.batch_config.read_flush_timeout)

    def get_session(self, session_id: str) -> dict[str, Any]:
        self._flush_queued()
        return self._send(self._build_get_session(session_id))

    def update_state(self, session_id: str, state: JSONObject) -> dict[str, Any]:
        return self._send(self._build_update_state(session_id, state))

    def log_event(
        self,
        session_id: str,
        name: str,
        data: Any = None,
        *,
        timestamp: Timestamp = None,
        id: str | None = None,
        level: EventLevel | None = None,
        message: str | None = None,
        category: str | None = None,
        labels: list[str] | None = None,
    ) -> dict[str, Any]:
        fields = _validate.event_fields(level, message, category, labels)
        call = self._build_log_event(session_id, name, data, timestamp, id, fields)
        return self._send(call)

    def log_metric(
        self,
        session_id: str,
        name: str,
        value: float,
        tags: Tags = None,
        *,
        timestamp: Timestamp = None,
        id: str | None = None,
        kind: MetricKind | None = None,
        unit: str | None = None,
    ) -> dict[str, Any]:
        fields = _validate.metric_fields(kind, unit)
        call = self._build_log_metric(session_id, name, value, tags, timestamp, id, fields)
        return self._send(call)

    def log_exception(
        self,
        session_id: str,
        exc_info: ExcInfo | BaseException | None = None,
        extra_data: JSONObject | None = None,
        *,
        fatal: bool = False,
    ) -> dict[str, Any]:
        """An ``exception`` event; ``fatal=True`` marks the session crashed."""
        call = self._build_log_exception(session_id, exc_info, extra_data, fatal)
        return self._send(call)

    def end_session(self, session_id: str, status: EndStatus = "ended") -> dict[str, Any]:
        return self._send(self._build_end(session_id, status))

    def heartbeat(self, session_id: str, timeout: float | None = None) -> dict[str, Any]:
        """A keep-alive; ``timeout`` (s) arms the server's abandoned-session detection."""
        return self._send(self._build_heartbeat(session_id, timeout))

    def get_all_sessions(self) -> list[dict[str, Any]]:
        self._flush_queued()
        return self._send(self._build_all_sessions())

    def send_batch(self, items: list[JSONObject]) -> dict[str, Any]:
        """``POST /api/batch`` as is: ``{"status", "accepted", "duplicates"}``."""
        return self._send(self._build_batch(items))


class AsyncDatacatClient(BaseClient):
    """Awaitable twin of :class:`DatacatClient`; ``async with`` closes its connection pool."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        timeout: float = 10.0,
        batch: BatchConfig | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        api_key: str | None = None,
    ) -> None:
        super().__init__(base_url, timeout=timeout, api_key=api_key)
        self.batch_config = batch or BatchConfig()
        self._http = httpx.AsyncClient(transport=transport, **self._http_options())
        self._task_worker: AsyncBatchWorker | None = None

    @property
    def _worker(self) -> AsyncBatchWorker | None:
        """The running worker task, or None: a task ended with its loop starts afresh."""
        worker = self._task_worker
        return worker if worker is not None and worker.alive else None

    async def _send(self, call: Call[T]) -> T:
        with mapped_errors():
            response = await self._http.request(call.method, call.path, content=call.body)
        return self._parse(call, response)

    async def _send_batch_body(self, body: bytes) -> Outcome:
        try:
            with mapped_errors():
                response = await self._http.post("/api/batch", content=body)
        except DatacatError as exc:
            return Outcome(None, error=exc)
        return self._outcome(response)

    def batch_worker(self) -> AsyncBatchWorker:
        """The worker task shared by this client's batching sessions; needs a running loop."""
        worker = self._worker
        if worker is None:
            worker = self._task_worker = AsyncBatchWorker(self._send_batch_body, self.batch_config)
        return worker

    async def close_worker(self, timeout: float | None = None) -> bool:
        worker, self._task_worker = self._task_worker, None
        return await worker.close(timeout) if worker is not None else True

    async def aclose(self) -> None:
        """Deliver what is queued (up to ``close_timeout``), then close the connection pool."""
        await self.close_worker(self.batch_config.close_timeout)
        await self._http.aclose()

    async def __aenter__(self) -> AsyncDatacatClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def register_session(
        self,
        product: str | None = None,
        version: str | None = None,
        host: str | None = None,
        metadata: JSONObject | None = None,
        heartbeat_timeout: float | None = None,
    ) -> str:
        call = self._build_register(product, version, host, metadata, heartbeat_timeout)
        return await self._send(call)

    async def _flush_queued(self) -> None:
        """Reads see this client's own writes (see ``DatacatClient._flush_queued``)."""
        worker = self._worker
        if worker is not None:
            await worker.flush(self.batch_config.read_flush_timeout)

    async def get_session(self, session_id: str) -> dict[str, Any]:
        await self._flush_queued()
        return await self._send(self._build_get_session(session_id))

    async def update_state(self, session_id: str, state: JSONObject) -> dict[str, Any]:
        call = self._build_update_state(session_id, state)
        return await self._send(call)

    async def log_event(
        self,
        session_id: str,
        name: str,
        data: Any = None,
        *,
        timestamp: Timestamp = None,
        id: str | None = None,
        level: EventLevel | None = None,
        message: str | None = None,
        category: str | None = None,
        labels: list[str] | None = None,
    ) -> dict[str, Any]:
        fields = _validate.event_fields(level, message, category, labels)
        call = self._build_log_event(session_id, name, data, timestamp, id, fields)
        return await self._send(call)

    async def log_metric(
        self,
        session_id: str,
        name: str,
        value: float,
        tags: Tags = None,
        *,
        timestamp: Timestamp = None,
        id: str | None = None,
        kind: MetricKind | None = None,
        unit: str | None = None,
    ) -> dict[str, Any]:
        fields = _validate.metric_fields(kind, unit)
        call = self._build_log_metric(session_id, name, value, tags, timestamp, id, fields)
        return await self._send(call)

    async def log_exception(
        self,
        session_id: str,
        exc_info: ExcInfo | BaseException | None = None,
        extra_data: JSONObject | None = None,
        *,
        fatal: bool = False,
    ) -> dict[str, Any]:
        call = self._build_log_exception(session_id, exc_info, extra_data, fatal)
        return await self._send(call)

    async def end_session(self, session_id: str, status: EndStatus = "ended") -> dict[str, Any]:
        return await self._send(self._build_end(session_id, status))

    async def heartbeat(self, session_id: str, timeout: float | None = None) -> dict[str, Any]:
        call = self._build_heartbeat(session_id, timeout)
        return await self._send(call)

    async def get_all_sessions(self) -> list[dict[str, Any]]:
        await self._flush_queued()
        return await self._send(self._build_all_sessions())

    async def send_batch(self, items: list[JSONObject]) -> dict[str, Any]:
        return await self._send(self._build_batch(items))
