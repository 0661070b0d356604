"""Finished JSON of full chunks of a session's events, kept between requests.

Events are never changed once stored, and on SQLite their ids are committed in order
(one writer at a time, across processes), so the first N events after a given id of a
session are the same forever: a full chunk's JSON, once built, can be reused by every
later read of that session. A dashboard that polls a long session then pays only for
the events that arrived since. PostgreSQL can commit a smaller id after a larger one
became visible, so there the cache is not used.

If events are ever deleted (retention), this cache must be cleared with them.
"""

from __future__ import annotations

from collections import OrderedDict


class ChunkCache:
    """Least recently used first out, bounded by the bytes it holds."""

    def __init__(self, budget_bytes: int) -> None:
        self._budget = budget_bytes
        self._held = 0
        self._entries: OrderedDict[tuple[int, int], tuple[int, bytes]] = OrderedDict()

    def get(self, pk: int, after: int, upto: int) -> tuple[int, bytes] | None:
        """The chunk of session ``pk`` that starts after id ``after``, if it is known and
        ends at or before ``upto`` (a reader's snapshot must not see later events)."""
        found = self._entries.get((pk, after))
        if found is None or found[0] > upto:
            return None
        self._entries.move_to_end((pk, after))
        return found

    def put(self, pk: int, after: int, last: int, document: bytes) -> None:
        if len(document) > self._budget:
            return
        key = (pk, after)
        previous = self._entries.pop(key, None)
        if previous is not None:
            self._held -= len(previous[1])
        self._entries[key] = (last, document)
        self._held += len(document)
        while self._held > self._budget:
            _, (_, evicted) = self._entries.popitem(last=False)
            self._held -= len(evicted)

    @property
    def held_bytes(self) -> int:
        return self._held
