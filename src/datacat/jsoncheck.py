"""Rules every stored JSON value must satisfy, whichever database holds it."""

from __future__ import annotations

import math
from typing import Any

import orjson
from pydantic import ValidationInfo

_ESCAPED_NUL = b"\\u0000"

PROVEN: dict[str, bool] = {"datacat.json_proven": True}
"""Validation context for a body that ``decode`` proved clean: ``check_field`` then has
nothing to find and skips its encoding pass (half of a small event's JSON cost)."""


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


def check_field(value: Any, info: ValidationInfo) -> Any:
    """``check_json`` as a Pydantic validator, skipped for a body ``decode`` proved clean."""
    if info.context is PROVEN:
        return value
    return check_json(value)


def decode(body: bytes) -> tuple[Any, dict[str, bool] | None]:
    """The body's JSON value, and ``PROVEN`` when no value in it can break ``check_json``.

    orjson refuses a non-finite number, a raw control character, a lone surrogate and
    invalid UTF-8 while decoding, and reads an integer wider than 64 bits as a float, so
    what it returns re-encodes; the only way left to write a NUL in JSON is the
    ``\\u0000`` escape, which one search of the body rules out. Raises
    ``orjson.JSONDecodeError`` for anything orjson refuses (the caller's more lenient
    decoder then decides, and its value is checked in full).
    """
    value = orjson.loads(body)
    return value, None if _ESCAPED_NUL in body else PROVEN


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
