"""Getting one run of queued items to ``POST /api/batch`` — the decisions, with no I/O.

:meth:`Delivery.steps` is a generator that yields :class:`Send` (post this body, send me the
:class:`Outcome`) and :class:`Sleep` (back off); the thread worker and the asyncio worker
each drive it with their own I/O, so chunking, retries and error handling exist once.

- Chunks respect the server's item and byte limits.
- Transport errors, 408, 429 and 5xx are retried with exponential backoff (``Retry-After``
  honoured) for as long as the worker runs: every item carries its client id, so a resend
  after a lost answer is stored once.
- A 422 naming item indexes drops exactly those items, reported to their session, and
  resends the rest at once; a 413 or an un-indexed 422 splits the chunk in halves.
- A 401 or 403 means this client's key is missing, unknown, revoked or of the wrong scope:
  the same key would be refused again, so nothing is retried and nothing more is sent. The
  run in hand is dropped, the refusal is logged once (an error), each session records it
  once in its ``errors``, and from then on :func:`drain` counts what is queued as dropped
  without sending it — no stream of doomed requests, no log line per batch.
- Any other 4xx is the caller's bug: the chunk is reported and dropped, never retried.

:func:`drain` wraps it for a worker's wake-up: take items from the outbox, deliver them,
report overflow drops, release flushers, until the outbox is empty. The worker shells
(``_worker``, ``_async_worker``) only run its steps with their own I/O.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any

from datacat_client._core import Outcome
from datacat_client._exceptions import (
    APIError,
    DatacatError,
    DeliveryError,
    TransportError,
    api_error,
)
from datacat_client._outbox import Outbox
from datacat_client._payloads import BATCH_OVERHEAD, Item, batch_body, describe, encode_item
from datacat_client._types import BatchConfig

log = logging.getLogger("datacat_client")

Encoded = tuple[Item, bytes]


@dataclass(frozen=True)
class Send:
    body: bytes


@dataclass(frozen=True)
class Sleep:
    seconds: float


Step = Send | Sleep


def backoff(config: BatchConfig, attempt: int, retry_after: float | None) -> float:
    delay = min(config.initial_backoff * 2.0**attempt, config.max_backoff)
    return max(delay, min(retry_after, 30.0)) if retry_after is not None else delay


def is_transient(outcome: Outcome) -> bool:
    if outcome.status is None:
        return isinstance(outcome.error, TransportError)
    return outcome.status in (408, 429) or outcome.status >= 500


def chunks(encoded: Iterable[Encoded], max_items: int, max_bytes: int) -> list[list[Encoded]]:
    result: list[list[Encoded]] = []
    current: list[Encoded] = []
    size = BATCH_OVERHEAD
    for entry in encoded:
        cost = len(entry[1]) + 1
        if current and (len(current) >= max_items or size + cost > max_bytes):
            result.append(current)
            current, size = [], BATCH_OVERHEAD
        current.append(entry)
        size += cost
    if current:
        result.append(current)
    return result


class Delivery:
    def __init__(self, items: list[Item], config: BatchConfig) -> None:
        self._config = config
        encoded = (e for e in (self._encode(item) for item in items) if e is not None)
        self._pending = collections.deque(
            chunks(encoded, config.max_batch_items, config.max_batch_bytes)
        )
        self._current: list[Encoded] = []
        self.retries = 0
        self.refused: APIError | None = None

    def _encode(self, item: Item) -> Encoded | None:
        try:
            data = encode_item(item)
        except Exception as exc:
            self._drop([item], f"cannot encode {describe(item)}: {exc}", exc)
            return None
        if len(data) + BATCH_OVERHEAD > self._config.max_batch_bytes:
            self._drop([item], f"{describe(item)} is larger than a whole batch ({len(data)} B)")
            return None
        return item, data

    def steps(self) -> Generator[Step, Outcome | None, None]:
        while self._pending:
            self._current = self._pending.popleft()
            yield from self._send_current()
            self._current = []

    def _send_current(self) -> Generator[Step, Outcome | None, None]:
        attempt = 0
        while self._current:
            outcome = yield Send(batch_body([data for _, data in self._current]))
            assert outcome is not None
            if outcome.status == 200:
                self._credit()
                if attempt:
                    log.info("datacat: batch delivered after %d retries", attempt)
                return
            if outcome.status in (401, 403):
                error = outcome.error
                if not isinstance(error, APIError):
                    error = api_error(outcome.status, outcome.body)
                self.refused = error
                remaining = [item for chunk in (self._current, *self._pending) for item, _ in chunk]
                self._pending.clear()
                self._current = []
                refuse(remaining, error)
                return
            if is_transient(outcome):
                if attempt == 0:
                    log.warning("datacat: batch not delivered, retrying: %s", _why(outcome))
                self.retries += 1
                yield Sleep(backoff(self._config, attempt, outcome.retry_after))
                attempt += 1
                continue
            if outcome.status == 422 and self._drop_indexed(outcome.body):
                continue
            if outcome.status in (413, 422) and len(self._current) > 1:
                half = len(self._current) // 2
                self._pending.extendleft([self._current[half:], self._current[:half]])
                return
            error = api_error(outcome.status or 0, outcome.body)
            self._drop([item for item, _ in self._current], f"server refused: {error}", error)
            return

    def _credit(self) -> None:
        for item, _ in self._current:
            item[0].delivered += 1

    def _drop_indexed(self, detail: Any) -> bool:
        """Drop the items a 422 names; False if it names none (then split or give up)."""
        if not isinstance(detail, list):
            return False
        reasons: dict[int, str] = {}
        for entry in detail:
            if isinstance(entry, dict) and isinstance(entry.get("index"), int):
                index = entry["index"]
                if 0 <= index < len(self._current):
                    loc = ".".join(str(p) for p in entry.get("loc", [])[3:])
                    reasons.setdefault(index, f"{loc}: {entry.get('msg', '')}".strip(": "))
        if not reasons:
            return False
        for index, reason in sorted(reasons.items()):
            item = self._current[index][0]
            error = api_error(422, [e for e in detail if _index_of(e) == index])
            self._drop([item], f"server refused {describe(item)}: {reason}", error)
        self._current = [e for i, e in enumerate(self._current) if i not in reasons]
        return True

    def _drop(self, items: list[Item], message: str, cause: BaseException | None = None) -> None:
        by_ledger: dict[Any, int] = {}
        for item in items:
            by_ledger[item[0]] = by_ledger.get(item[0], 0) + 1
        for ledger, count in by_ledger.items():
            ledger.dropped += count
            ledger.record(DeliveryError(f"{count} item(s) dropped: {message}", count, cause))

    def abandon(self, reason: str) -> None:
        """The worker is stopping with items still unsent: count and report them."""
        remaining = [item for chunk in (self._current, *self._pending) for item, _ in chunk]
        self._pending.clear()
        self._current = []
        if remaining:
            self._drop(remaining, reason)


Steps = Generator[Step, Outcome | None, None]
UNREACHABLE = "client closed while the server was unreachable"


def refuse(items: Iterable[Item], error: DatacatError) -> None:
    """Items lost to a refused key: counted per session, recorded once per session, not
    logged per session (:func:`drain` logs the refusal once for the whole client)."""
    by_ledger: dict[Any, int] = {}
    for item in items:
        by_ledger[item[0]] = by_ledger.get(item[0], 0) + 1
    for ledger, count in by_ledger.items():
        message = f"{count} item(s) dropped, and later writes will be: {error}"
        ledger.refuse(count, DeliveryError(message, count, error), logged=False)


def drain(outbox: Outbox, config: BatchConfig, stopping: Callable[[], bool]) -> Steps:
    """Deliver what is queued, run by run, until the outbox is empty or the worker stops.

    Closing the generator (the worker stopped during a back-off) abandons the run in hand:
    its items are counted as dropped, and the flush waiting behind them is released.
    """
    while not stopping():
        items, barrier = outbox.take(config.max_batch_items)
        if items and outbox.refused is not None:
            refuse(items, outbox.refused)
        elif items:
            delivery = Delivery(items, config)
            try:
                yield from delivery.steps()
            except GeneratorExit:
                delivery.abandon(UNREACHABLE)
                outbox.report_drops()
                if barrier is not None:
                    barrier.signal.set()
                raise
            if delivery.refused is not None:
                outbox.refused = delivery.refused
                log.error(
                    "datacat: %s — batched writes are dropped from now on, not retried",
                    delivery.refused,
                )
        outbox.report_drops()
        if barrier is not None:
            barrier.signal.set()
        elif not items:
            return


def _index_of(entry: Any) -> Any:
    return entry.get("index") if isinstance(entry, dict) else None


def _why(outcome: Outcome) -> str:
    return str(outcome.error) if outcome.error is not None else f"HTTP {outcome.status}"
