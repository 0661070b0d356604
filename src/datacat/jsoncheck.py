"""Rules every stored JSON value must satisfy, whichever database holds it."""

from __future__ import annotations

import math
from typing import Any

import orjson

_ESCAPED_NUL = b"\\u0000"


def check_json(value: Any) -> Any:
    """Reject what PostgreSQL would refuse: a NUL in any string or key, non-finite numbers.

    SQLite would store a NUL happily, so without this check the same request would be a
    200 on one backend and a 500 on the other. The common case costs one orjson pass: only
    output that might hold an escaped NUL is walked value by value.
    """
    try:
        encoded = orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise ValueError(f"cannot be stored as JSON: {exc}") from exc
    if _ESCAPED_NUL in encoded or b"null" in encoded:
        _walk(value)
    return value


def _walk(value: Any) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("contains a NUL character")
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise ValueError("has a key containing a NUL character")
            _walk(item)
    elif isinstance(value, list):
        for item in value:
            _walk(item)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("contains a non-finite number")
