"""Rules every stored JSON value must satisfy, whichever database holds it."""

from __future__ import annotations

import math
from typing import Any

MAX_DEPTH = 64


def check_json(value: Any, depth: int = 0) -> Any:
    """Reject what PostgreSQL would refuse (NUL in any string or key) and absurd nesting.

    SQLite would store a NUL happily, so without this check the same request would be a
    200 on one backend and a 500 on the other.
    """
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("contains a NUL character")
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise ValueError("has a key containing a NUL character")
            check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_json(item, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("contains a non-finite number")
    return value
