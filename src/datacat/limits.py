"""What one request may carry, beyond its size: nesting, keys, tags, names, batch items.

Body size is the ingress's job (413, before anything is read). These limits need the
decoded body, so they are checked on the write operations the API builds from it
(``datacat.store.ops``), after validation and before anything is written: a request over
a limit is a 422 whose message names the limit and its setting, and writes nothing.

They exist because the cost of a request grows with its shape, not only its size: a
state patch is deep-merged and rewritten whole on every write, a metric's tags are stored
with every point, and a name longer than its column (``String(256)``) is refused by
PostgreSQL only at commit. Every ingest request passes through here, so the walk visits
only objects and arrays, one level at a time, and never looks inside a string.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from datacat.settings import Settings
from datacat.store.ops import CreateSession, LogEvent, LogMetric, Op, UpdateState

__all__ = ["LimitExceeded", "Limits"]

_CONTAINERS = (dict, list)


class LimitExceeded(Exception):
    """A request over a limit. ``detail`` is the answer's ``detail``: a list of
    validation-style errors (``loc``, ``msg``, and ``index`` for a batch item), or one
    message when the batch as a whole is too long (the client then splits it)."""

    def __init__(self, detail: str | list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Limits:
    max_state_depth: int
    max_object_keys: int
    max_metric_tags: int
    max_name_length: int
    max_batch_items: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_state_depth=settings.max_state_depth,
            max_object_keys=settings.max_object_keys,
            max_metric_tags=settings.max_metric_tags,
            max_name_length=settings.max_name_length,
            max_batch_items=settings.max_batch_items,
        )

    def check(self, op: Op) -> None:
        """Raise :class:`LimitExceeded` if the op of a single request is over a limit."""
        found = self.problem(op)
        if found is not None:
            field, message = found
            # A state patch is the whole body; every other value is one field of it.
            loc: list[str | int] = ["body"] if isinstance(op, UpdateState) else ["body", field]
            raise LimitExceeded([_error(loc, message)])

    def check_batch(self, ops: Sequence[Op]) -> None:
        """Raise :class:`LimitExceeded` for a batch that is too long, or naming every item
        over a limit by its index (the client drops those and resends the rest)."""
        if len(ops) > self.max_batch_items:
            raise LimitExceeded(
                f"a batch holds at most {self.max_batch_items} items, got {len(ops)}: "
                f"max_batch_items={self.max_batch_items} (DATACAT_MAX_BATCH_ITEMS)"
            )
        errors = []
        for index, op in enumerate(ops):
            found = self.problem(op)
            if found is not None:
                field, message = found
                error = _error(["body", "items", index, field], message)
                errors.append({"index": index, **error})
        if errors:
            raise LimitExceeded(errors)

    def problem(self, op: Op) -> tuple[str, str] | None:
        """The first limit ``op`` exceeds, as (field, message); None when within all."""
        if isinstance(op, LogEvent):
            return (
                self._name(op.name)
                or self._json("data", op.data, op.data_json)
                or self._labels(op.labels)
            )
        if isinstance(op, LogMetric):
            return self._name(op.name) or self._tags(op.tags)
        if isinstance(op, UpdateState):
            return self._json("state", op.patch)
        if isinstance(op, CreateSession):
            return self._json("metadata", op.metadata)
        return None  # heartbeat, end: nothing but a number or a word

    def _name(self, name: str) -> tuple[str, str] | None:
        if len(name) <= self.max_name_length:
            return None
        return "name", (
            f"name is {len(name)} characters long; at most max_name_length="
            f"{self.max_name_length} (DATACAT_MAX_NAME_LENGTH)"
        )

    def _labels(self, labels: list[str] | None) -> tuple[str, str] | None:
        if labels is None or len(labels) <= self.max_metric_tags:
            return None
        return "labels", (
            f"event has {len(labels)} labels; at most max_metric_tags="
            f"{self.max_metric_tags} (DATACAT_MAX_METRIC_TAGS)"
        )

    def _tags(self, tags: Any) -> tuple[str, str] | None:
        if tags is None:
            return None
        if len(tags) > self.max_metric_tags:
            return "tags", (
                f"metric has {len(tags)} tags; at most max_metric_tags="
                f"{self.max_metric_tags} (DATACAT_MAX_METRIC_TAGS)"
            )
        return self._json("tags", tags)

    def _json(self, field: str, value: Any, text: str | None = None) -> tuple[str, str] | None:
        """Walk ``value`` level by level: deeper than the limit, or an object with too
        many keys, is a problem; strings and numbers are never looked at.

        With ``value``'s JSON ``text`` at hand, most values need no walk: every object or
        array writes one ``{`` or ``[`` and every key one ``:``, so when the text holds
        no more of them than the limits allow (those inside strings only add to the
        count), neither limit can be exceeded.
        """
        if not isinstance(value, _CONTAINERS):
            return None
        max_depth, max_keys = self.max_state_depth, self.max_object_keys
        if (
            text is not None
            and text.count("{") + text.count("[") <= max_depth
            and text.count(":") <= max_keys
        ):
            return None
        level: list[Any] = [value]
        depth = 0
        while level:
            depth += 1
            if depth > max_depth:
                return field, (
                    f"{field} nests deeper than max_state_depth={max_depth} "
                    "(DATACAT_MAX_STATE_DEPTH)"
                )
            below: list[Any] = []
            keep = below.append
            for node in level:
                if isinstance(node, dict):
                    if len(node) > max_keys:
                        return field, (
                            f"{field} has an object with {len(node)} keys; at most "
                            f"max_object_keys={max_keys} (DATACAT_MAX_OBJECT_KEYS)"
                        )
                    node = node.values()
                for child in node:
                    if isinstance(child, _CONTAINERS):
                        keep(child)
            level = below
        return None


def _error(loc: list[str | int], message: str) -> dict[str, Any]:
    return {"loc": loc, "msg": message, "type": "limit_exceeded"}
