"""Hang detection: the application calls ``heartbeat()``; a monitor notices when it stops.

:class:`HangDetector` is the rule (pure, clock passed in) and :class:`Liveness` the rest of
what a monitor decides (when to report, how loudly a failure is logged), written once.
:class:`HeartbeatMonitor` runs it on a daemon thread for sync code and
:class:`AsyncHeartbeatMonitor` as an asyncio task. Each turns what its constructor is given
(a client and a session id, or a session) into two callables — log an event, send a
keep-alive — and uses nothing else, so this module imports no session class. Keep-alives go
to ``POST /api/sessions/{id}/heartbeat`` every ``check_interval``: a hung application still
sends them (its monitor runs), a dead process does not, so the server can tell *hung* from
*abandoned*.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from datacat_client._core import BaseClient
from datacat_client._exceptions import AUTH_ERRORS, DatacatError

if TYPE_CHECKING:
    from datacat_client._async_session import AsyncSession
    from datacat_client._client import DatacatClient
    from datacat_client._session import Session

log = logging.getLogger("datacat_client")

HUNG_EVENT = "application_appears_hung"
RECOVERED_EVENT = "application_recovered"
REPORT_LEVELS = {HUNG_EVENT: "warning", RECOVERED_EVENT: "info"}
"""A hang is worth a look, not an error (the process may just be busy); recovery is news."""
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


class Liveness:
    """A monitor's decisions, shared by the thread and the task (no I/O).

    Hung and recovered reports come from the :class:`HangDetector`. A keep-alive failure is
    logged as a warning once per streak of failures (the server being down is worth
    knowing, but not every ``check_interval``); a report that could not be logged is a
    warning each time. A keep-alive refused with 401/403 is logged once as an error and
    ends the keep-alives: the same key would be refused every ``check_interval``.
    """

    def __init__(
        self, timeout: float, check_interval: float, keepalive_timeout: float | None
    ) -> None:
        self.timeout = timeout
        self.check_interval = check_interval
        self.keepalive_timeout = keepalive_timeout or default_keepalive_timeout(check_interval)
        self._detector = HangDetector(timeout, time.monotonic())
        self._keepalive_failing = False
        self._keepalive_refused = False

    def _restart(self) -> None:
        self._detector = HangDetector(self.timeout, time.monotonic())

    def _beat(self) -> Report | None:
        return self._detector.beat(time.monotonic())

    def _check(self) -> Report | None:
        return self._detector.check(time.monotonic())

    def _keepalive_answered(self, error: DatacatError | None) -> None:
        if isinstance(error, AUTH_ERRORS):
            log.error("datacat: keep-alives stopped, the server refused them: %s", error)
            self._keepalive_refused = True
            return
        if error is None:
            self._keepalive_failing = False
            return
        if not self._keepalive_failing:
            log.warning("datacat: keep-alive failed (will keep trying): %s", error)
        self._keepalive_failing = True

    @staticmethod
    def _report_failed(report: Report, error: DatacatError) -> None:
        log.warning("datacat: could not log %s: %s", report[0], error)


class HeartbeatMonitor(Liveness):
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
        super().__init__(timeout, check_interval, keepalive_timeout)
        if isinstance(client, BaseClient):
            if session_id is None:
                raise TypeError("HeartbeatMonitor(client, session_id, ...) needs a session_id")
            self.client, self.session_id = client, session_id
            self._log_event: Callable[..., Any] = partial(client.log_event, session_id)
        else:  # a Session: its events go through its batching queue
            self.client, self.session_id = client.client, client.session_id
            self._log_event = client.log_event
        self._send_keepalive: Callable[[float], Any] = partial(
            self.client.heartbeat, self.session_id
        )
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> HeartbeatMonitor:
        if self.is_running():
            return self
        self._stop.clear()
        self._restart()
        self._thread = threading.Thread(target=self._run, name="datacat-heartbeat", daemon=True)
        self._thread.start()
        return self

    def heartbeat(self) -> None:
        """The application is alive. Cheap: call it from your main loop."""
        with self._lock:
            report = self._beat()
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
                report = self._check()
            if report is not None:
                self._emit(report)
            self._keepalive()

    def _emit(self, report: Report) -> None:
        try:
            self._log_event(*report, level=REPORT_LEVELS[report[0]])
        except DatacatError as exc:
            self._report_failed(report, exc)

    def _keepalive(self) -> None:
        if self._keepalive_refused:
            return
        try:
            self._send_keepalive(self.keepalive_timeout)
        except DatacatError as exc:
            self._keepalive_answered(exc)
        else:
            self._keepalive_answered(None)


class AsyncHeartbeatMonitor(Liveness):
    """The monitor as an asyncio task; hung/recovered go through the AsyncSession's queue."""

    def __init__(
        self,
        session: AsyncSession,
        timeout: float = 60,
        check_interval: float = 5,
        *,
        keepalive_timeout: float | None = None,
    ) -> None:
        super().__init__(timeout, check_interval, keepalive_timeout)
        self.session = session
        self._log_event: Callable[..., Awaitable[Any]] = session.log_event
        self._send_keepalive: Callable[[float], Awaitable[Any]] = partial(
            session.client.heartbeat, session.session_id
        )
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[Any]] = set()

    def start(self) -> AsyncHeartbeatMonitor:
        if self._task is None or self._task.done():
            self._restart()
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def heartbeat(self) -> None:
        """The application is alive. Cheap: call it from your main loop."""
        report = self._beat()
        if report is not None:
            task = asyncio.ensure_future(self._emit(report))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

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

    async def _run(self) -> None:
        await self._keepalive()
        while True:
            await asyncio.sleep(self.check_interval)
            report = self._check()
            if report is not None:
                await self._emit(report)
            await self._keepalive()

    async def _emit(self, report: Report) -> None:
        try:
            await self._log_event(*report, level=REPORT_LEVELS[report[0]])
        except DatacatError as exc:
            self._report_failed(report, exc)

    async def _keepalive(self) -> None:
        if self._keepalive_refused:
            return
        try:
            await self._send_keepalive(self.keepalive_timeout)
        except DatacatError as exc:
            self._keepalive_answered(exc)
        else:
            self._keepalive_answered(None)
