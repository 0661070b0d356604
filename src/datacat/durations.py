"""Durations as operators type them: a whole number and a unit, ``30d``, ``12h``, ``90m``, ``45s``.

One number and one unit, nothing else: ``1.5d``, ``1d12h``, ``30`` or ``-1d`` are refused
with a message saying what is accepted, because a prune given a misread duration deletes
the wrong data and cannot be undone.
"""

from __future__ import annotations

import re

__all__ = ["UNITS", "InvalidDuration", "parse_seconds"]

UNITS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_SHAPE = re.compile(r"([0-9]+)([dhms])")
_LARGEST_S = 100 * 365 * 86_400
"""A century: anything longer is a typo, and its microseconds would outgrow a BIGINT's
comparisons against the epoch."""


class InvalidDuration(ValueError):
    pass


def parse_seconds(text: str) -> int:
    """The duration in seconds; ``InvalidDuration`` names what was wrong."""
    found = _SHAPE.fullmatch(text.strip())
    if found is None:
        raise InvalidDuration(
            f"invalid duration {text!r}: expected a whole number followed by one of "
            "d (days), h (hours), m (minutes), s (seconds), e.g. 30d, 12h, 90m, 45s"
        )
    seconds = int(found.group(1)) * UNITS[found.group(2)]
    if seconds == 0:
        raise InvalidDuration(f"invalid duration {text!r}: must be longer than zero")
    if seconds > _LARGEST_S:
        raise InvalidDuration(f"invalid duration {text!r}: longer than 100 years")
    return seconds
