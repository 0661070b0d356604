"""Finished JSON of full chunks of a session's events, kept between requests.

Events are never changed once stored, and on SQLite their ids are committed in order
(one writer at a time, across processes), so the events of a session between two ids
are the same forever once both were visible: their JSON, once built, serves every later
read. A session is read in chunks from fixed starting points; a full chunk is kept for
good, and the session's last, partial chunk (its *tail*) is kept too and used by a
reader whose last event is exactly the tail's — an unchanged session costs no query —
and rebuilt, replacing it, once the session has grown. A dashboard that polls a long
session then pays only for the events that arrived since. PostgreSQL can commit a
smaller id after a larger one became visible, so there the cache is not used.

Events are deleted only with their session (``store.prune``), and a session's pk is never
given to another one (SQLite AUTOINCREMENT, migration 0003), so a deleted session's
chunks are never asked for again and simply age out — in every process, including ones
that cannot know of the deletion.
"""

from __future__ import annotations

from collections import OrderedDict


class ChunkCache:
    """Least recently used first out, bounded by the bytes it holds."""

    def __init__(self, budget_bytes: int) -> None:
        self._budget = budget_bytes
        self._held = 0
        self._entries: OrderedDict[tuple[int, int], tuple[int, bytes, bool]] = OrderedDict()

    def get(self, pk: int, after: int, upto: int) -> tuple[int, bytes] | None:
        """Session ``pk``'s chunk that starts after id ``after``, as ``(last id, JSON)``,
        for a reader whose newest event of the session is ``upto``: a full chunk ending
        at or before it, or a tail ending exactly there (a shorter tail would leave out
        events, a longer one would show events the reader's snapshot does not have)."""
        found = self._entries.get((pk, after))
        if found is None:
            return None
        last, document, full = found
        if last > upto or (not full and last != upto):
            return None
        self._entries.move_to_end((pk, after))
        return last, document

    def session(self, pk: int, upto: int) -> list[bytes] | None:
        """All of session ``pk``'s events up to its last event ``upto``, if every chunk of
        them is here (in order); None as soon as one is missing."""
        pieces: list[bytes] = []
        after = -1
        while after < upto:
            found = self.get(pk, after, upto)
            if found is None:
                return None
            after = found[0]
            pieces.append(found[1])
        return pieces

    def put(self, pk: int, after: int, last: int, document: bytes, *, full: bool) -> None:
        if len(document) > self._budget:
            return
        key = (pk, after)
        previous = self._entries.pop(key, None)
        if previous is not None:
            self._held -= len(previous[1])
        self._entries[key] = (last, document, full)
        self._held += len(document)
        while self._held > self._budget:
            _, (_, evicted, _) = self._entries.popitem(last=False)
            self._held -= len(evicted)

    @property
    def held_bytes(self) -> int:
        return self._held
