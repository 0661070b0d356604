"""Helpers for tests that hold answers and examples to ``/openapi.json``."""

from __future__ import annotations

from typing import Any


def strict(node: Any) -> Any:
    """The schema with every object closed and every property required: an answer that
    leaves out a documented field, or adds one, fails against it."""
    if isinstance(node, dict):
        node = {key: strict(value) for key, value in node.items()}
        if "properties" in node:
            node.setdefault("additionalProperties", False)
            node["required"] = sorted(node["properties"])
        return node
    if isinstance(node, list):
        return [strict(item) for item in node]
    return node
