"""Give memory back to the operating system after bursts (glibc only; a no-op elsewhere).

A batch burst briefly holds every item several times over (request bytes, parsed JSON,
validated models, rows). CPython frees those objects, but glibc keeps the pages, so the
server's RSS would stay at its high-water mark. ``trim()`` after a large write group and
fewer malloc arenas keep the steady-state RSS close to what is actually live.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_ARENA_MAX = -8


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    if libc is None or not hasattr(libc, "malloc_trim") or not hasattr(libc, "mallopt"):
        return None
    return libc


_LIBC = _libc()


def limit_arenas(count: int = 2) -> None:
    """Fewer per-thread malloc arenas: less memory stranded in idle ones."""
    if _LIBC is not None:
        _LIBC.mallopt(_M_ARENA_MAX, count)


def trim() -> None:
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
