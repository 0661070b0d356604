"""Waiting for something that happens a little later: a flush, a sweep, an htmx swap."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

TRUTHY: Any = object()
"""``expected``'s default: any truthy value will do."""


def eventually(
    read: Callable[[], T], expected: Any = TRUTHY, timeout: float = 20.0, every: float = 0.05
) -> T:
    """Poll ``read`` until it returns ``expected`` (or anything truthy); return that value.

    The deadline is generous because a loaded machine is slow, not wrong; a check that
    passes returns at once. Failing names the last value seen, so a wrong answer reads as
    a wrong answer rather than as a timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        seen = read()
        met = bool(seen) if expected is TRUTHY else seen == expected
        if met:
            return seen
        if time.monotonic() > deadline:
            wanted = "something truthy" if expected is TRUTHY else repr(expected)
            raise AssertionError(f"after {timeout}s: expected {wanted}, saw {seen!r}")
        time.sleep(every)
