"""The async face's delivery worker: an asyncio task per client drains the outbox.

Same outbox, same :func:`~datacat_client._delivery.drain` steps as the thread worker; only
the waiting and the awaited ``send`` differ. There is no ``atexit`` for a loop that is gone:
close the session or client (``async with``) to deliver the tail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable

from datacat_client._core import Outcome
from datacat_client._delivery import Send, Steps, drain
from datacat_client._outbox import Barrier, Outbox
from datacat_client._types import BatchConfig

log = logging.getLogger("datacat_client")

AwaitedSend = Callable[[bytes], Awaitable[Outcome]]


class LoopSignal:
    """An ``asyncio.Event`` that may also be set from other threads (logging handlers)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.get_ident()
        self.event = asyncio.Event()

    def set(self) -> None:
        if threading.get_ident() == self._thread:
            self.event.set()
        else:
            self._loop.call_soon_threadsafe(self.event.set)

    def is_set(self) -> bool:
        return self.event.is_set()


async def drive(steps: Steps, send: AwaitedSend, sleep: Callable[[float], Awaitable[bool]]) -> None:
    """Run delivery steps with awaited I/O; ``sleep`` returns False when the worker stops."""
    reply: Outcome | None = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration:
            return
        if isinstance(step, Send):
            reply = await send(step.body)
        elif await sleep(step.seconds):
            reply = None
        else:
            steps.close()
            return


class AsyncBatchWorker:
    """``send`` posts one ``/api/batch`` body and answers its :class:`Outcome` (never raises)."""

    def __init__(self, send: AwaitedSend, config: BatchConfig) -> None:
        loop = asyncio.get_running_loop()
        self.config = config
        self._send = send
        self._wake = LoopSignal(loop)
        self._stopping = asyncio.Event()
        self.outbox = Outbox(config, self._wake)
        self._task = loop.create_task(self._run(), name="datacat-batch")

    @property
    def alive(self) -> bool:
        return not self._task.done() and not self._stopping.is_set()

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is delivered or given up; False on timeout."""
        if self._task.done():
            return not len(self.outbox)
        done = asyncio.Event()
        self.outbox.put_always(Barrier(done))
        try:
            await asyncio.wait_for(done.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def close(self, timeout: float | None = None) -> bool:
        """Flush for up to ``timeout`` s, then stop; whatever is left is counted as lost."""
        if self._stopping.is_set():
            return True
        delivered = await self.flush(timeout)
        self._stopping.set()
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 1.0)
        except asyncio.TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.outbox.discard_all("client closed before delivery")
        return delivered

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.event.wait(), self.config.flush_interval)
            self._wake.event.clear()
            try:
                steps = drain(self.outbox, self.config, self._stopping.is_set)
                await drive(steps, self._send, self._sleep)
            except Exception:  # the worker must outlive any bug in one delivery
                log.exception("datacat: batch worker error")

    async def _sleep(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except asyncio.TimeoutError:
            return True
        return False
