"""What a session does that is not I/O, written once for :class:`Session` and :class:`AsyncSession`.

Like httpx's ``BaseClient``: both faces subclass :class:`SessionCore` and add only what
waits — sending an unbatched call, waiting for room under the ``block`` policy, flushing,
closing. The rules that live here, once:

- **Validation and item building.** A batched write is checked against what the server
  would refuse, stamped with ``time.time()`` and the session's sequence number (its client
  id, so a resend is stored once) and put in the client's outbox — memory, not I/O.
- **Refusals.** With ``strict=True`` a refused call raises; otherwise the error goes to the
  ledger (``errors``) and the ``datacat_client`` logger, and the call returns normally.
  A 401/403 (the key) is reported once per session: the same key would be refused again,
  so later unbatched writes are counted as dropped without being sent.
- **The end.** An end status is ``"ended"`` or ``"crashed"``; anything else is refused and
  the session stays open. A valid end is queued behind everything logged before it, the
  face waits up to ``close_timeout`` for delivery, and a session that owns its client then
  stops the client's worker (the connection pool stays open, so the session can still be
  read). ``end()`` answers ``{"status": "ok"}``, as the seed's client did.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from typing import Any, Generic, Protocol, TypeVar

from datacat_client import _validate
from datacat_client._exceptions import AUTH_ERRORS, DatacatError, InvalidData
from datacat_client._ledger import Ledger
from datacat_client._outbox import Outbox
from datacat_client._payloads import Item, Tagged
from datacat_client._types import BatchConfig, JSONObject, Tags

_now = time.time
EventExtras = tuple[Any, Any, Any, Any] | None
"""An event's optional ``(level, message, category, labels)``, as the caller gave them."""
END_STATUSES = ("ended", "crashed")


class _Worker(Protocol):
    outbox: Outbox


class QueueingClient(Protocol):
    """What the core needs of either client: its config and its (lazily started) worker."""

    base_url: str
    batch_config: BatchConfig

    @property
    def _worker(self) -> _Worker | None: ...

    def batch_worker(self) -> _Worker: ...


Client = TypeVar("Client", bound=QueueingClient)


def event_extras(level: Any, message: Any, category: Any, labels: Any) -> EventExtras:
    """An event's optional fields as given, or None for the seed's call (the common one)."""
    if level is None and message is None and category is None and labels is None:
        return None
    return (level, message, category, labels)


def validated_event_fields(extras: EventExtras) -> JSONObject | None:
    """The validated optional fields of an unbatched event (raises InvalidData)."""
    return None if extras is None else _validate.event_fields(*extras)


def end_answer() -> dict[str, Any]:
    """What ``end()`` returns, whatever became of the end: the seed's answer."""
    return {"status": "ok"}


class SessionCore(Generic[Client]):
    """Configuration, ledger, validation and item building shared by both session faces.

    Generic in the face's client, so each face sees its own client's methods typed."""

    def __init__(
        self,
        client: Client,
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

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.session_id} at {self.client.base_url}>"

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

    # -- refusals -----------------------------------------------------------------------
    def _refuse(self, error: DatacatError) -> None:
        if self.strict:
            raise error
        if isinstance(error, AUTH_ERRORS):
            self._ledger.refuse(1, error)
        else:
            self._ledger.record(error)

    def _refused_before(self) -> bool:
        """An unbatched write after a 401/403: count it as dropped instead of sending it."""
        if self._ledger.refused is None or self.strict:
            return False
        self._ledger.dropped += 1
        return True

    def _refuse_name(self, name: Any) -> None:
        try:
            _validate.name(name)
        except InvalidData as exc:
            self._refuse(exc)

    # -- batched writes: each returns the item only if the ``block`` policy found no room --
    def _queue(self, item: Item) -> Item | None:
        worker = self.client._worker or self.client.batch_worker()
        return None if worker.outbox.put(item) else item

    def _queue_state(self, state: JSONObject) -> Item | None:
        try:
            body = _validate.json_object_bytes(state)
        except InvalidData as exc:
            self._refuse(exc)
            return None
        return self._queue((self._ledger, "state", _now(), self._seq(), body, None, None))

    def _event_item(self, name: str, data: Any, fields: EventExtras = None) -> Item | None:
        """An event with its data serialised now (a snapshot), or None if refused.

        ``fields``: the optional level/message/category/labels, as
        ``(level, message, category, labels)`` or None."""
        try:
            _validate.name(name)
            body = _validate.json_bytes({} if data is None else data)
            extra = None if fields is None else _validate.event_fields(*fields)
        except InvalidData as exc:
            self._refuse(exc)
            return None
        return (self._ledger, "event", _now(), self._seq(), name, body, extra)

    def _queue_event(self, name: str, data: Any, fields: EventExtras = None) -> Item | None:
        item = self._event_item(name, data, fields)
        return None if item is None else self._queue(item)

    def _queue_metric(
        self,
        name: str,
        value: float,
        tags: Tags,
        kind: Any = None,
        unit: Any = None,
        histogram: dict[str, Any] | None = None,
    ) -> Item | None:
        """The hot path: keep it to checks, a tuple and an append."""
        if type(name) is not str or not 0 < len(name) <= _validate.MAX_NAME or "\x00" in name:
            self._refuse_name(name)
            return None
        if type(value) is not float:
            try:
                value = float(value)
            except (TypeError, ValueError):
                self._refuse(InvalidData(f"metric {name!r}: {value!r} is not a number"))
                return None
        if value - value != 0.0:  # NaN or ±inf
            self._refuse(InvalidData(f"metric {name!r}: {value} is not finite"))
            return None
        if tags is not None:
            try:
                tags = _validate.tags(tags)
            except InvalidData as exc:
                self._refuse(exc)
                return None
        extra: Any = tags
        if histogram is not None:
            extra = Tagged(tags, histogram)
        elif kind is not None or unit is not None:
            try:
                fields = _validate.metric_fields(kind, unit)
            except InvalidData as exc:
                self._refuse(exc)
                return None
            if fields:
                extra = Tagged(tags, fields)
        item = (self._ledger, "metric", _now(), self._seq(), name, value, extra)
        worker = self.client._worker or self.client.batch_worker()
        return None if worker.outbox.put(item) else item

    def _queue_end(self, status: str) -> bool:
        """Queue the end behind everything logged so far; False if ``status`` is refused."""
        if status not in END_STATUSES:
            self._refuse(InvalidData(f"an end status is 'ended' or 'crashed', not {status!r}"))
            return False
        item = (self._ledger, "end", _now(), self._seq(), status, None, None)
        self.client.batch_worker().outbox.put_always(item)
        return True


def histogram_value(fields: dict[str, Any]) -> float:
    """What a histogram sends as ``value``: its mean (the server stores the same)."""
    count = fields["count"]
    return float(fields["sum"]) / count if count else 0.0
