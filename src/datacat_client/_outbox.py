"""The bounded in-memory queue between the application's calls and the delivery worker.

``put`` is the only code on the application's hot path: one length check, one deque append
(atomic under the GIL, so no lock) and, once ``flush_at`` items wait, one wake-up. What
happens when the queue is full is the configured, counted overflow policy (see
``BatchConfig``). Flush requests travel through the same queue as *barriers*, so a flush
waits for exactly the items logged before it.
"""

from __future__ import annotations

import collections
from typing import Any, Protocol

from datacat_client._exceptions import APIError, DeliveryError
from datacat_client._ledger import Ledger
from datacat_client._payloads import Item
from datacat_client._types import BatchConfig


class Signal(Protocol):
    """``threading.Event`` or ``asyncio.Event``: whatever wakes the worker or a flusher."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...


class Barrier:
    """A flush request: set once everything queued before it has been dealt with."""

    __slots__ = ("signal",)

    def __init__(self, signal: Signal) -> None:
        self.signal = signal


class Outbox:
    def __init__(self, config: BatchConfig, wake: Signal) -> None:
        self._items: collections.deque[Any] = collections.deque()
        self._max = config.max_queue
        self._flush_at = config.flush_at
        self._policy = config.overflow
        self._wake = wake
        self._unreported: dict[Ledger, int] = {}
        self.refused: APIError | None = None
        """The 401/403 that ended delivery for this client's key (see ``_delivery``)."""

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Item) -> bool:
        """Queue ``item``; False only under the ``block`` policy when there is no room."""
        items = self._items
        if len(items) >= self._max:
            if self._policy == "block":
                self._wake.set()
                return False
            if self._policy == "drop_newest":
                self._count_drop(item[0])
                return True  # handled: the new item is the one dropped
            self._drop_oldest()
        items.append(item)
        if len(items) >= self._flush_at and not self._wake.is_set():
            self._wake.set()
        return True

    def put_always(self, item: Item | Barrier) -> None:
        """For ends and barriers, which must never be refused or dropped."""
        self._items.append(item)
        self._wake.set()

    def _drop_oldest(self) -> None:
        try:
            oldest = self._items.popleft()
        except IndexError:
            return
        if isinstance(oldest, Barrier):  # nothing before it is left to wait for
            oldest.signal.set()
        else:
            self._count_drop(oldest[0])

    def _count_drop(self, ledger: Ledger) -> None:
        ledger.dropped += 1
        self._unreported[ledger] = self._unreported.get(ledger, 0) + 1

    def put_or_drop(self, item: Item) -> None:
        """``put``, but where the caller cannot wait (``block`` policy): drop and count."""
        if not self.put(item):
            self._count_drop(item[0])

    def take(self, limit: int) -> tuple[list[Item], Barrier | None]:
        """Up to ``limit`` items, stopping at (and returning) the first barrier."""
        items = self._items
        taken: list[Item] = []
        while len(taken) < limit:
            try:
                head = items.popleft()
            except IndexError:
                break
            if isinstance(head, Barrier):
                return taken, head
            taken.append(head)
        return taken, None

    def report_drops(self) -> None:
        """One error per session per overflow episode, not one per dropped item."""
        if not self._unreported:
            return
        unreported, self._unreported = self._unreported, {}
        for ledger, count in unreported.items():
            ledger.errors.append(
                DeliveryError(f"dropped {count} item(s): queue full ({self._policy})", count)
            )

    def discard_all(self, reason: str) -> None:
        """At close, after the deadline: count what never left, release every flusher."""
        lost: dict[Ledger, int] = {}
        while True:
            try:
                head = self._items.popleft()
            except IndexError:
                break
            if isinstance(head, Barrier):
                head.signal.set()
            else:
                lost[head[0]] = lost.get(head[0], 0) + 1
        for ledger, count in lost.items():
            ledger.dropped += count
            ledger.record(DeliveryError(f"{count} item(s) not delivered: {reason}", count))
