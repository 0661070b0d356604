"""The seed's deep-merge rule for session state, as a pure function."""

from __future__ import annotations

from typing import Any


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``patch`` merged in; neither argument is modified.

    An object merges into an object key by key, recursively; anything else (array,
    scalar, ``None``) replaces what was there. ``None`` is stored, not treated as a delete.
    """
    merged = dict(base)
    for key, value in patch.items():
        current = merged.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged
