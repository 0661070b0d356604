"""Bodies on the wire: exception events and ``POST /api/batch`` items — pure, no I/O.

A queued item is a plain tuple, the cheapest thing to build on the application's thread:
``(ledger, op, time.time(), seq, a, b, c)``. The worker turns it into JSON bytes here, with
its RFC 3339 timestamp and client id, so formatting costs the worker, not the caller.

- ``metric``: a = name, b = float value, c = tags or None, or a :class:`Tagged` when the
  call gave a kind or unit (the common call keeps the plain tuple: no extra object)
- ``event``:  a = name, b = data as JSON bytes (snapshotted at call time), c = the optional
  level/message/category/labels as a dict, or None
- ``state``:  a = state object as JSON bytes
- ``end``:    a = "ended" | "crashed"
"""

from __future__ import annotations

import sys
import traceback
from types import TracebackType
from typing import Any, NamedTuple

from datacat_client._frames import frames_of
from datacat_client._json import dumps, rfc3339
from datacat_client._ledger import Ledger


class Tagged(NamedTuple):
    """A metric's tags together with its optional kind/unit (already validated)."""

    tags: Any
    fields: dict[str, Any]


Item = tuple[Ledger, str, float, int, Any, Any, Any]
# What ``sys.exc_info()``, ``__exit__`` and ``threading.excepthook`` hand over: any part may
# be None (no exception being handled, or a thread hook's missing value).
ExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]


def exception_data(
    exc_info: ExcInfo | BaseException | None = None,
    extra_data: dict[str, Any] | None = None,
    *,
    fatal: bool = False,
) -> dict[str, Any]:
    """The data of an ``exception`` event: ``type``, ``message``, ``traceback`` (lines),
    ``frames`` (see :mod:`datacat_client._frames`; ``frames_omitted`` when capped).

    ``exc_info`` may be a ``sys.exc_info()`` tuple, an exception, or None for the exception
    being handled. ``fatal`` marks the session crashed on the server. ``extra_data`` is
    merged in last, as the seed client did.
    """
    if exc_info is None:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    exc_type, exc_value, exc_tb = exc_info
    data: dict[str, Any] = {
        "type": exc_type.__name__ if exc_type is not None else "Unknown",
        "message": _message(exc_value),
        "traceback": (
            "".join(traceback.format_exception(exc_type, exc_value, exc_tb)).splitlines()
            if exc_type is not None
            else []
        ),
    }
    if exc_type is not None:
        data["frames"], omitted = frames_of(exc_tb)
        if omitted:
            data["frames_omitted"] = omitted
        if exc_type.__module__ not in ("builtins", "__main__"):
            data["module"] = exc_type.__module__
    if fatal:
        data["fatal"] = True
    if extra_data:
        data.update(extra_data)
    return data


def _message(value: BaseException | None) -> str:
    if value is None:
        return ""
    try:
        return str(value)
    except Exception:  # a broken __str__ must not stop the report
        return f"<unprintable {type(value).__name__}>"


def encode_item(item: Item) -> bytes:
    """One batch item as JSON bytes, stamped with the time and id taken at call time."""
    ledger, op, ts, seq, a, b, c = item
    head: dict[str, Any] = {"op": op, "session_id": ledger.session_id, "timestamp": rfc3339(ts)}
    if op == "metric":
        head["name"] = a
        head["value"] = b
        if type(c) is Tagged:
            head["tags"] = c.tags if c.tags is not None else []
            head.update(c.fields)
        else:
            head["tags"] = c if c is not None else []
        head["id"] = ledger.client_id(seq)
        return dumps(head)
    if op == "event":
        head["name"] = a
        head["id"] = ledger.client_id(seq)
        if c is not None:
            head.update(c)
        data: bytes = b  # already JSON, serialised at call time
        return dumps(head)[:-1] + b',"data":' + data + b"}"
    if op == "state":
        head["id"] = ledger.client_id(seq)  # a resent patch is then applied only once
        state: bytes = a
        return dumps(head)[:-1] + b',"state":' + state + b"}"
    if op == "end":
        head["status"] = a
        return dumps(head)
    raise ValueError(f"unknown batch op {op!r}")


def describe(item: Item) -> str:
    """A short label for logs and errors — never the payload, which may be large or private."""
    _, op, _, _, a, _, _ = item
    return f"{op} {a!r}" if op in ("metric", "event") else op


def batch_body(encoded: list[bytes]) -> bytes:
    return b'{"items":[' + b",".join(encoded) + b"]}"


BATCH_OVERHEAD = len(batch_body([]))
