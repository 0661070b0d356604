"""The request id: one string that ties a response, its log lines and a client's report.

A client (or a proxy in front of datacat) may send ``X-Request-ID``; it is kept when it is
sane — 1 to 128 printable ASCII characters — because a caller that already tracks an id
wants to find it in our logs. Anything else (too long, control characters, non-ASCII) is
replaced by a fresh id rather than refused: the header is a courtesy, never a reason to
fail a write. The id lives in a context variable, so every log line written while the
request runs can carry it without being handed it.
"""

from __future__ import annotations

import itertools
import os
from contextvars import ContextVar

HEADER = b"x-request-id"
MAX_LENGTH = 128

current: ContextVar[str | None] = ContextVar("datacat_request_id", default=None)
"""The id of the request being served in this task, None outside one."""


def sane(value: bytes) -> str | None:
    """``value`` as the id to use, or None when it must be replaced."""
    if not 0 < len(value) <= MAX_LENGTH or not value.isascii():
        return None
    text = value.decode("ascii")
    return text if text.isprintable() and not text.isspace() else None


_PROCESS = os.urandom(8).hex()
_SEQUENCE = itertools.count(1)


def _reseed() -> None:
    """A forked child (a pre-forking server) must not repeat its parent's ids."""
    global _PROCESS, _SEQUENCE
    _PROCESS, _SEQUENCE = os.urandom(8).hex(), itertools.count(1)


os.register_at_fork(after_in_child=_reseed)


def new() -> str:
    """This process's 64 random bits, then its request count (hex): unique among every
    worker and replica without drawing random bytes per request (a fifth of the cost)."""
    return f"{_PROCESS}{next(_SEQUENCE):x}"
