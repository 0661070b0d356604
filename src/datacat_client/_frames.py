"""Stack frames of an exception, as the ``exception`` event's ``frames`` — no network, no files.

(The library directories are resolved once, at import; judging a frame reads nothing.)

Each frame is ``{"file", "line", "function", "module", "in_app"}``, outermost call first (the
order of a printed traceback). The server groups exceptions by the ``module:function`` of the
in-app frames (never by line or install path), so ``module`` is the frame's own
``__name__`` and ``function`` the code object's plain name — the same names the lite client
and a printed traceback give, so every client groups an exception alike.

``in_app`` is False for code the application did not write: the standard library
(sysconfig's ``stdlib``/``platstdlib``), anything under ``site-packages``/``dist-packages``
(or sysconfig's ``purelib``/``platlib``), this client's own package, and pseudo files such
as ``<frozen importlib._bootstrap>`` or ``<string>``. Everything else is the application's.
"""

from __future__ import annotations

import os
import sysconfig
import traceback
from types import TracebackType
from typing import Any

MAX_FRAMES = 100
"""Frames sent at most; a deeper traceback keeps its innermost ones (where it was raised)."""

_CLIENT_DIR = os.path.dirname(os.path.abspath(__file__))
_LIBRARY_MARKERS = ("site-packages", "dist-packages")


def _library_roots() -> tuple[str, ...]:
    """Directories whose files are never the application's, each ending in a separator.

    Both the configured and the resolved form of each path are kept, since a frame's file
    name is whatever path the module was imported by (a symlinked prefix stays unresolved).
    """
    paths = sysconfig.get_paths()
    found = {_CLIENT_DIR}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            found.add(paths[key])
    roots = set()
    for path in found:
        for form in (os.path.normpath(path), os.path.realpath(path)):
            roots.add(form.rstrip(os.sep) + os.sep)
    return tuple(sorted(roots))


_LIBRARY_ROOTS = _library_roots()


def in_app(filename: str) -> bool:
    """Whether a frame in ``filename`` is the application's own code (see the module doc)."""
    if not filename or filename.startswith("<"):
        return False
    path = os.path.normpath(filename)
    parts = path.replace("\\", "/").split("/")
    if any(marker in parts for marker in _LIBRARY_MARKERS):
        return False
    return not path.startswith(_LIBRARY_ROOTS)


def frames_of(tb: TracebackType | None) -> tuple[list[dict[str, Any]], int]:
    """The frames of a traceback, outermost first, and how many were left off the front.

    At most :data:`MAX_FRAMES` are returned; a longer traceback (deep recursion) keeps the
    innermost ones, where the exception was raised.
    """
    walked = list(traceback.walk_tb(tb))
    omitted = max(0, len(walked) - MAX_FRAMES)
    frames = []
    for frame, line in walked[omitted:]:
        code = frame.f_code
        module = frame.f_globals.get("__name__")
        frames.append(
            {
                "file": code.co_filename,
                "line": line,
                "function": code.co_name,
                "module": module if isinstance(module, str) else None,
                "in_app": in_app(code.co_filename),
            }
        )
    return frames, omitted
