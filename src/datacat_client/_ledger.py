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

    __slots__ = ("delivered", "dropped", "errors", "id_prefix", "refused", "session_id")

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        # Client ids are prefix + a per-session counter: unique across processes and
        # Session objects, and ~10x cheaper at call time than a uuid4 each.
        self.id_prefix = uuid.uuid4().hex[:20] + "."
        self.errors: collections.deque[DatacatError] = collections.deque(maxlen=MAX_ERRORS)
        self.delivered = 0
        self.dropped = 0
        # Set by the first 401/403 to this session's writes: later writes are counted as
        # dropped without being sent or reported again (the same key is refused again).
        self.refused: DatacatError | None = None

    def client_id(self, seq: int) -> str:
        return f"{self.id_prefix}{seq:x}"

    def record(self, error: DatacatError, *, logged: bool = True) -> None:
        """Keep ``error``; ``logged=False`` when the caller has logged its cause already."""
        self.errors.append(error)
        if logged:
            log.warning("datacat session %s: %s", self.session_id, error)

    def refuse(self, count: int, error: DatacatError, *, logged: bool = True) -> None:
        """``count`` writes lost to an auth refusal: kept in ``errors`` once per session."""
        self.dropped += count
        if self.refused is None:
            self.refused = error
            self.record(error, logged=logged)
