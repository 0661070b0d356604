"""Hang detection: the application calls ``heartbeat()``; a monitor notices when it stops.

:class:`HangDetector` is the rule (pure, clock passed in). :class:`HeartbeatMonitor` runs it
on a daemon thread for sync code and :class:`AsyncHeartbeatMonitor` as an asyncio task. Both
also send keep-alives to ``POST /api/sessions/{id}/heartbeat`` every ``check_interval``: a
hung application still sends them (its monitor runs), a dead process does not, so the server
can tell *hung* from *abandoned*.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from datacat_client._exceptions import DatacatError

if TYPE_CHECKING:
    from datacat_client._async_session import AsyncSession
    from datacat_client._client import DatacatClient
    from datacat_client._session import Session

log = logging.getLogger("datacat_client")

HUNG_EVENT = "application_appears_hung"
RECOVERED_EVENT = "application_recovered"
Report = tuple[str, dict[str, Any]]


def default_keepalive_timeout(check_interval: float) -> float:
    """How long the server waits for a keep-alive before calling the session abandoned."""
    return max(30.0, 3 * check_interval)


class HangDetector:
    """Reports ``application_appears_hung`` once per hang and ``application_recovered`` after."""

    def __init__(self, timeout: float, now: float) -> None:
        self.timeout = timeout
        self.last_beat = now
        self.hung_at: float | None = None

    def beat(self, now: float) -> Report | None:
        self.last_beat = now
        if self.hung_at is None:
            return None
        hung_for = now - self.hung_at
        self.hung_at = None
        return RECOVERED_EVENT, {"hung_for_seconds": round(hung_for, 3)}

    def check(self, now: float) -> Report | None:
        silent = now - self.last_beat
        if silent <= self.timeout or self.hung_at is not None:
            return None
        self.hung_at = now
        return HUNG_EVENT, {"seconds_since_heartbeat": round(silent, 3), "timeout": self.timeout}


class HeartbeatMonitor:
    """The seed's monitor thread: ``HeartbeatMonitor(client, session_id, timeout, check_interval)``.

    Pass a :class:`Session` instead of a client (``session_id`` omitted) to log its events
    through the session's batching queue.
    """

    def __init__(
        self,
        client: DatacatClient | Session,
        session_id: str | None = None,
        timeout: float = 60,
        check_interval: float = 5,
        *,
        keepalive_timeout: float | None = None,
    ) -> None:
        from datacat_client._session import Session

        if isinstance(client, Session):
            session = client
            self.client = session.client
            self.session_id = session.session_id
            self._log_event: Callable[[str, Any], Any] = session.log_event
        else:
            if session_id is None:
                raise TypeError("HeartbeatMonitor(client, session_id, ...) needs a session_id")
            self.client, self.session_id = client, session_id
            self._log_event = lambda name, data: client.log_event(session_id, name, data)
        self.timeout = timeout
        self.check_interval = check_interval
        self.keepalive_timeout = keepalive_timeout or default_keepalive_timeout(check_interval)
        self._detector = HangDetector(timeout, time.monotonic())
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._keepalive_failing = False

    def start(self) -> HeartbeatMonitor:
        if self.is_running():
            return self
        self._stop.clear()
        self._detector = HangDetector(self.timeout, time.monotonic())
        self._thread = threading.Thread(target=self._run, name="datacat-heartbeat", daemon=True)
        self._thread.start()
        return self

    def heartbeat(self) -> None:
        """The application is alive. Cheap: call it from your main loop."""
        with self._lock:
            report = self._detector.beat(time.monotonic())
        if report is not None:
            self._emit(report)

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.check_interval + 1)

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def _run(self) -> None:
        self._keepalive()
        while not self._stop.wait(self.check_interval):
            with self._lock:
                report = self._detector.check(time.monotonic())
            if report is not None:
                self._emit(report)
            self._keepalive()

    def _emit(self, report: Report) -> None:
        try:
            self._log_event(*report)
        except DatacatError as exc:
            log.warning("datacat: could not log %s: %s", report[0], exc)

    def _keepalive(self) -> None:
        try:
            self.client.heartbeat(self.session_id, self.keepalive_timeout)
        except DatacatError as exc:
            if not self._keepalive_failing:
                log.warning("datacat: keep-alive failed (will keep trying): %s", exc)
            self._keepalive_failing = True
        else:
            self._keepalive_failing = False


class AsyncHeartbeatMonitor:
    """The monitor as an asyncio task; hung/recovered go through the AsyncSession's queue."""

    def __init__(
        self,
        session: AsyncSession,
        timeout: float = 60,
        check_interval: float = 5,
        *,
        keepalive_timeout: float | None = None,
    ) -> None:
        self.session = session
        self.timeout = timeout
        self.check_interval = check_interval
        self.keepalive_timeout = keepalive_timeout or default_keepalive_timeout(check_interval)
        self._detector = HangDetector(timeout, time.monotonic())
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[Any]] = set()

    def start(self) -> AsyncHeartbeatMonitor:
        if self._task is None or self._task.done():
            self._detector = HangDetector(self.timeout, time.monotonic())
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def heartbeat(self) -> None:
        report = self._detector.beat(time.monotonic())
        if report is not None:
            self._spawn(self.session.log_event(*report))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def is_running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _run(self) -> None:
        await self._keepalive()
        while True:
            await asyncio.sleep(self.check_interval)
            report = self._detector.check(time.monotonic())
            if report is not None:
                await self.session.log_event(*report)
            await self._keepalive()

    async def _keepalive(self) -> None:
        try:
            await self.session.client.heartbeat(self.session.session_id, self.keepalive_timeout)
        except DatacatError as exc:
            log.debug("datacat: keep-alive failed: %s", exc)
