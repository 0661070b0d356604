"""JSON bytes and RFC 3339 times, in the one encoding both faces and the worker use."""

from __future__ import annotations

import functools
import time
from typing import Any

import orjson

from datacat_client._exceptions import InvalidData


def dumps(value: Any) -> bytes:
    """orjson: several times faster than ``json``; datetimes come out as RFC 3339."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError as exc:
        raise InvalidData(f"not JSON-serialisable: {exc}") from exc


def loads(data: bytes) -> Any:
    return orjson.loads(data)


def rfc3339(ts: float) -> str:
    """``time.time()`` as ``2026-01-01T00:00:00.123456Z`` (UTC, always six digits)."""
    micros = round(ts * 1_000_000)
    seconds, fraction = divmod(micros, 1_000_000)
    return f"{_whole_second(seconds)}.{fraction:06d}Z"


@functools.lru_cache(maxsize=256)
def _whole_second(seconds: int) -> str:
    # Batched items cluster in the same second: format each second once.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
