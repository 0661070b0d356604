"""The sync face's delivery worker: one daemon thread per client drains the outbox.

The thread wakes every ``flush_interval`` seconds, when ``flush_at`` items are waiting, or
when someone flushes; it runs :func:`~datacat_client._delivery.drain`'s steps with the
blocking ``send`` it was given. At interpreter exit an ``atexit`` hook gives it
``close_timeout`` seconds to deliver what is left.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections.abc import Callable

from datacat_client._core import Outcome
from datacat_client._delivery import Send, Steps, drain
from datacat_client._outbox import Barrier, Outbox
from datacat_client._types import BatchConfig

log = logging.getLogger("datacat_client")

BlockingSend = Callable[[bytes], Outcome]


def drive(steps: Steps, send: BlockingSend, sleep: Callable[[float], bool]) -> None:
    """Run delivery steps with blocking I/O; ``sleep`` returns False when the worker stops."""
    reply: Outcome | None = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration:
            return
        if isinstance(step, Send):
            reply = send(step.body)
        elif sleep(step.seconds):
            reply = None
        else:
            steps.close()
            return


class BatchWorker:
    """``send`` posts one ``/api/batch`` body and answers its :class:`Outcome` (never raises)."""

    def __init__(self, send: BlockingSend, config: BatchConfig) -> None:
        self.config = config
        self._send = send
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self.outbox = Outbox(config, self._wake)
        self._thread = threading.Thread(target=self._run, name="datacat-batch", daemon=True)
        self._thread.start()
        ref = weakref.ref(self)
        self._exit_hook = lambda: (w := ref()) is not None and w.close(w.config.close_timeout)
        atexit.register(self._exit_hook)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stopping.is_set()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is delivered or given up; False on timeout."""
        if not self._thread.is_alive():
            return not len(self.outbox)
        done = threading.Event()
        self.outbox.put_always(Barrier(done))
        return done.wait(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Flush for up to ``timeout`` s, then stop; whatever is left is counted as lost."""
        if self._stopping.is_set():
            return True
        delivered = self.flush(timeout)
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=max(1.0, self.config.initial_backoff * 2))
        self.outbox.discard_all("client closed before delivery")
        atexit.unregister(self._exit_hook)
        return delivered

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.config.flush_interval)
            self._wake.clear()
            try:
                steps = drain(self.outbox, self.config, self._stopping.is_set)
                drive(steps, self._send, self._sleep)
            except Exception:  # the worker must outlive any bug in one delivery
                log.exception("datacat: batch worker error")

    def _sleep(self, seconds: float) -> bool:
        return not self._stopping.wait(seconds)
