"""Per-session bookkeeping the background worker reports into: errors and counters.

Batched writes fail long after the call that made them returned, so their errors cannot be
raised; they are logged (once per cause, never with the payload) and kept here, where the
application and tests can look.
"""

from __future__ import annotations

import collections
import logging
import uuid

from datacat_client._exceptions import DatacatError

log = logging.getLogger("datacat_client")

MAX_ERRORS = 1000


class Ledger:
    """What became of one session's writes. Appends are thread-safe (deque, GIL-atomic)."""

    __slots__ = ("delivered", "dropped", "errors", "id_prefix", "session_id")

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        # Client ids are prefix + a per-session counter: unique across processes and
        # Session objects, and ~10x cheaper at call time than a uuid4 each.
        self.id_prefix = uuid.uuid4().hex[:20] + "."
        self.errors: collections.deque[DatacatError] = collections.deque(maxlen=MAX_ERRORS)
        self.delivered = 0
        self.dropped = 0

    def client_id(self, seq: int) -> str:
        return f"{self.id_prefix}{seq:x}"

    def record(self, error: DatacatError) -> None:
        self.errors.append(error)
        log.warning("datacat session %s: %s", self.session_id, error)
