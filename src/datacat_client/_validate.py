"""What the server would refuse, checked before sending so one bad call cannot sink a batch.

Each check raises :class:`InvalidData`; the session decides whether that reaches the
caller (``strict=True``, or a ``DatacatClient`` call) or goes to ``Session.errors``.
"""

from __future__ import annotations

import math
from typing import Any

from datacat_client._exceptions import InvalidData
from datacat_client._json import dumps

MAX_NAME = 256
_ESCAPED_NUL = b"\\u0000"


def name(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidData(f"a name must be a string, not {type(value).__name__}")
    if not 0 < len(value) <= MAX_NAME:
        raise InvalidData(f"a name must be 1..{MAX_NAME} characters, got {len(value)}")
    if "\x00" in value:
        raise InvalidData("a name must not contain a NUL character")
    return value


def number(value: Any) -> float:
    """The seed client sent ``float(value)``; so do we, and refuse NaN and infinities."""
    try:
        result = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidData(f"a metric value must be a number, not {value!r}") from exc
    if not math.isfinite(result):
        raise InvalidData(f"a metric value must be finite, not {result}")
    return result


def tags(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        if not all(isinstance(t, str) and "\x00" not in t for t in value):
            raise InvalidData("tags must be strings without NUL characters")
        return list(value)
    if isinstance(value, dict):
        return value
    raise InvalidData(f"tags must be a list of strings or an object, not {type(value).__name__}")


def json_bytes(value: Any, *, what: str = "data") -> bytes:
    """``value`` as JSON, refusing what the server refuses (NUL characters, NaN/inf).

    Serialising at call time also snapshots the value, so the application may mutate its
    dict right after the call without changing what is sent.
    """
    encoded = dumps(value)
    if _ESCAPED_NUL in encoded or b"null" in encoded:
        _walk(value, what)
    return encoded


def json_object_bytes(value: Any, *, what: str = "state") -> bytes:
    if not isinstance(value, dict):
        raise InvalidData(f"{what} must be a JSON object (dict), not {type(value).__name__}")
    return json_bytes(value, what=what)


def _walk(value: Any, what: str) -> None:
    # orjson writes NaN and infinities as null; only then, or on an escaped NUL, look closer.
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidData(f"{what} contains a NUL character")
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                raise InvalidData(f"{what} has a key containing a NUL character")
            _walk(item, what)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _walk(item, what)
    elif isinstance(value, float) and not math.isfinite(value):
        raise InvalidData(f"{what} contains a non-finite number")


METRIC_KINDS = ("gauge", "counter", "timer", "histogram")
EVENT_LEVELS = ("debug", "info", "warning", "error", "critical")
MAX_UNIT = 64
MAX_MESSAGE = 8192
MAX_LABEL = 256


def _text(value: Any, what: str, low: int, high: int) -> str:
    if not isinstance(value, str):
        raise InvalidData(f"{what} must be a string, not {type(value).__name__}")
    if not low <= len(value) <= high:
        raise InvalidData(f"{what} must be {low}..{high} characters, got {len(value)}")
    if "\x00" in value:
        raise InvalidData(f"{what} must not contain a NUL character")
    return value


def metric_fields(kind: Any, unit: Any) -> dict[str, str] | None:
    """Issue 12's optional metric fields, or None when neither is given (the seed's body)."""
    fields: dict[str, str] = {}
    if kind is not None:
        if kind not in METRIC_KINDS:
            raise InvalidData(f"a metric kind is one of {', '.join(METRIC_KINDS)}, not {kind!r}")
        fields["kind"] = kind
    if unit is not None:
        fields["unit"] = _text(unit, "a metric unit", 1, MAX_UNIT)
    return fields or None


MAX_BUCKETS = 64
MAX_COUNT = 2**53


def histogram_fields(
    buckets: Any, total: Any, count: Any = None, unit: Any = None
) -> dict[str, Any]:
    """A pre-aggregated histogram's body fields (kind, unit, buckets, sum, count), held to
    the server's rules so one bad histogram cannot sink a batch.

    ``buckets``: ``(le, count)`` pairs or ``{"le": ..., "count": ...}`` dicts, or a mapping
    ``{le: count}``; each count is that bucket's own (not cumulative), ``le`` None or
    ``math.inf`` is +Inf (last only). ``count`` defaults to the sum of the bucket counts."""
    if isinstance(buckets, dict):
        pairs = list(buckets.items())
    elif isinstance(buckets, (list, tuple)):
        pairs = [
            (bucket.get("le"), bucket.get("count")) if isinstance(bucket, dict) else tuple(bucket)
            for bucket in buckets
        ]
    else:
        raise InvalidData(f"histogram buckets must be a list or dict, not {type(buckets).__name__}")
    if not pairs or len(pairs) > MAX_BUCKETS:
        raise InvalidData(f"a histogram has 1..{MAX_BUCKETS} buckets, got {len(pairs)}")
    out: list[dict[str, Any]] = []
    previous: float | None = None
    for position, pair in enumerate(pairs):
        if len(pair) != 2:
            raise InvalidData(f"histogram bucket {position} must be (le, count)")
        le, n = pair
        if le is not None and not isinstance(le, bool) and le == math.inf:
            le = None
        if le is None:
            if position != len(pairs) - 1:
                raise InvalidData("only the last histogram bucket may be +Inf (le None)")
        else:
            le = number(le)
            if previous is not None and le <= previous:
                raise InvalidData("histogram bucket bounds (le) must strictly increase")
            previous = le
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_COUNT:
            raise InvalidData(f"histogram bucket {position}: a count is an int 0..2**53, not {n!r}")
        out.append({"le": le, "count": n})
    counted = sum(bucket["count"] for bucket in out)
    if count is None:
        count = counted
    if isinstance(count, bool) or not isinstance(count, int) or count != counted:
        raise InvalidData(f"histogram count {count!r} is not the sum of its buckets ({counted})")
    fields: dict[str, Any] = {"kind": "histogram"}
    if unit is not None:
        fields["unit"] = _text(unit, "a metric unit", 1, MAX_UNIT)
    fields.update(buckets=out, sum=number(total), count=count)
    return fields


def event_fields(level: Any, message: Any, category: Any, labels: Any) -> dict[str, Any] | None:
    """Issue 12's optional event fields, or None when none is given (the seed's body)."""
    fields: dict[str, Any] = {}
    if level is not None:
        if level not in EVENT_LEVELS:
            raise InvalidData(f"an event level is one of {', '.join(EVENT_LEVELS)}, not {level!r}")
        fields["level"] = level
    if message is not None:
        fields["message"] = _text(message, "an event message", 0, MAX_MESSAGE)
    if category is not None:
        fields["category"] = _text(category, "an event category", 0, MAX_LABEL)
    if labels is not None:
        if not isinstance(labels, (list, tuple)):
            raise InvalidData(f"labels must be a list of strings, not {type(labels).__name__}")
        fields["labels"] = [_text(label, "a label", 0, MAX_LABEL) for label in labels]
    return fields or None
