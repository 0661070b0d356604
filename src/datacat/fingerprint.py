"""Which exceptions are "the same one": a fingerprint per ``exception`` event — pure, no I/O.

Two occurrences group when they have the same exception type and were raised through the
same application code. A frame is identified by its module (or its file, cut down to the
part that is the same on every host) and its function, never by a line number, so a
release that only shifts lines, or a host that installed the app under another path, still
groups with the rest. Library and standard-library frames count only when no frame is the
application's own (an exception raised entirely inside a library is still told apart by
where in the library it was raised). With no frames at all, the message is the identity,
with its numbers, hex ids and quoted values masked: ``id 42 missing`` and ``id 7 missing``
are one group.

The full contract (frames, ``in_app``, the key) is in the exceptions contract of issue 12;
this module is its only implementation, shared by every ingest path (``api.toops`` for the
FastAPI routes, the fast path and ``/api/batch``; ``store.importer`` for imports).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["EXCEPTION_EVENT", "Frame", "exception_marks", "fingerprint", "frames_of", "mask"]

EXCEPTION_EVENT = "exception"

MAX_FRAMES = 256
"""Frames considered, the innermost ones: a deep recursion's thousand identical frames
add nothing to the identity, and the time spent stays bounded whatever a client sends."""
MAX_TRACEBACK_LINES = 4096
"""Traceback lines read (the last ones, where the reported exception's frames are)."""

_FRAME_LINE = re.compile(
    r'^\s*File "(?P<file>[^"]*)", line (?P<line>\d+)(?:, in (?P<func>.+?))?\s*$'
)
_TRACEBACK_HEAD = "Traceback (most recent call last):"
_PACKAGES = re.compile(r"^.*/(?:site|dist)-packages/")
_STDLIB = re.compile(r"/lib/python\d+(?:\.\d+)?t?/|/python\d+/lib/", re.IGNORECASE)

_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
_HEX = re.compile(r"\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)[0-9a-f]{6,}(?:-[0-9a-f]{4,})*\b", re.I)
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class Frame:
    """One stack frame as the server reads it (outermost call first in a list)."""

    file: str
    line: int | None
    function: str
    module: str | None
    in_app: bool

    @property
    def key(self) -> str:
        """The frame's part of the fingerprint: where and which function, never the line."""
        return (self.module or normalise_path(self.file)) + ":" + self.function


def normalise_path(path: str) -> str:
    """The part of a path that is the same on every host: what follows the last
    ``site-packages/`` or ``dist-packages/``, else the last two components."""
    path = path.replace("\\", "/")
    cut = _PACKAGES.sub("", path)
    if cut != path:
        return cut
    return "/".join(path.rsplit("/", 2)[-2:])


def path_in_app(path: str) -> bool:
    """A frame at ``path`` is the application's own code unless it is installed
    (site-/dist-packages), the standard library or a frozen module."""
    path = path.replace("\\", "/")
    return not (
        "/site-packages/" in path
        or "/dist-packages/" in path
        or path.startswith("<frozen ")
        or _STDLIB.search(path) is not None
    )


def frames_of(data: Any) -> list[Frame]:
    """The frames of an exception event's data: its ``frames`` when that is a list (dict
    items only), else parsed from its ``traceback`` lines; never raises."""
    if not isinstance(data, dict):
        return []
    sent = data.get("frames")
    if isinstance(sent, list):
        return [frame for item in sent[-MAX_FRAMES:] if (frame := _sent_frame(item))]
    return _parsed_frames(data.get("traceback"))


def _sent_frame(item: Any) -> Frame | None:
    if not isinstance(item, dict):
        return None
    file = _text(item.get("file"))
    function = _text(item.get("function"))
    module = _text(item.get("module")) or None
    if not (file or function or module):
        return None
    line = item.get("line")
    in_app = item.get("in_app")
    return Frame(
        file=file,
        line=line if type(line) is int else None,
        function=function,
        module=module,
        in_app=in_app if isinstance(in_app, bool) else path_in_app(file),
    )


def _parsed_frames(traceback: Any) -> list[Frame]:
    """Frames from Python's printed traceback, of the last (reported) exception when it
    is chained: its block starts at the last ``Traceback (most recent call last):``."""
    if isinstance(traceback, str):
        text = traceback
    elif isinstance(traceback, list):
        text = "\n".join(line for line in traceback[-MAX_TRACEBACK_LINES:] if isinstance(line, str))
    else:
        return []
    lines = text.splitlines()[-MAX_TRACEBACK_LINES:]
    start = 0
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].strip() == _TRACEBACK_HEAD:
            start = index + 1
            break
    frames = []
    for line in lines[start:]:
        found = _FRAME_LINE.match(line)
        if found is None:
            continue
        file = found["file"]
        frames.append(
            Frame(
                file=file,
                line=int(found["line"]),
                function=found["func"] or "",
                module=None,
                in_app=path_in_app(file),
            )
        )
    return frames[-MAX_FRAMES:]


def mask(message: str) -> str:
    """The message with quoted values, hex ids and numbers replaced by placeholders."""
    message = _QUOTED.sub("<str>", message)
    message = _HEX.sub("<hex>", message)
    return _DIGITS.sub("<n>", message)


def fingerprint(data: Any) -> str | None:
    """32 hex digits naming the exception's group, or None when ``data`` is not a dict
    with a non-empty string ``type`` (such an event is stored, just not grouped)."""
    if not isinstance(data, dict):
        return None
    kind = data.get("type")
    if not isinstance(kind, str) or not kind:
        return None
    frames = frames_of(data)
    if frames:
        used = [frame for frame in frames if frame.in_app] or frames
        keys = [frame.key for frame in used]
    else:
        keys = [mask(_text(data.get("message")))]
    text = "\n".join([kind, *keys])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def exception_marks(name: str, data: Any) -> tuple[str | None, bool | None]:
    """``(fingerprint, fatal)`` to store with an event: both None unless it is an
    ``exception`` event that groups; ``fatal`` is whether its data says ``"fatal": true``."""
    if name != EXCEPTION_EVENT:
        return None, None
    found = fingerprint(data)
    if found is None:
        return None, None
    return found, data.get("fatal") is True


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
