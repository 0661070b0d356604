"""The export's line format, written and checked without touching a database.

One session per line: its columns as stored, then ``state_history``, ``events`` and
``metrics``, each a list of objects in the order they were stored. Times are the stored
integer microseconds, so they come back exactly. Every JSON value a user sent (state,
metadata, patches, event data, tags) is written with its object keys sorted: SQLite keeps
keys in the order they arrived and PostgreSQL's ``jsonb`` reorders them, and a JSON
object's keys have no order, so sorting costs nothing and makes a session export to the
same bytes from either database.

``parse_line`` holds an imported line to the rules the API holds a write to (names,
labels, client ids, finite numbers, no NUL), plus what the columns need (times a
datetime can show, statuses the service knows), so a bad line is refused with the field
named instead of failing in the database or, later, in a page that renders it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from datacat.histogram import problem
from datacat.jsoncheck import check_json
from datacat.store import bucketruns
from datacat.store.status import STATUSES

SORTED = orjson.OPT_SORT_KEYS

HEAD_KEYS = frozenset(
    {
        "id",
        "created_us",
        "updated_us",
        "ended_us",
        "last_seen_us",
        "active",
        "status",
        "state",
        "product",
        "version",
        "host",
        "metadata",
        "heartbeat_timeout_s",
    }
)
LIST_KEYS = ("state_history", "events", "metrics")
LINE_KEYS = HEAD_KEYS | frozenset(LIST_KEYS)
HISTORY_KEYS = frozenset({"ts_us", "patch", "client_id"})
EVENT_KEYS = frozenset({"ts_us", "name", "data", "client_id"})
METRIC_KEYS = frozenset({"ts_us", "name", "value", "tags", "client_id"})
# Issue 12's fields: written only when set, so an export of data without them is what it
# was before (and older servers can import it); a missing one reads as NULL (the default).
EVENT_OPTIONAL = frozenset({"level", "message", "category", "labels"})
METRIC_OPTIONAL = frozenset({"kind", "unit", "count", "buckets"})
"""``count`` and ``buckets`` (``[{"le", "count"}]``, le null = +Inf) come together, on a
pre-aggregated histogram only (migration 0006); its ``value`` is the mean, as stored."""
# The values the API accepts (``api.schemas.EventLevel``, ``MetricKind``; a test ties them).
EVENT_LEVELS = ("debug", "info", "warning", "error", "critical")
METRIC_KINDS = ("gauge", "counter", "timer", "histogram")
MAX_MESSAGE = 8192
MAX_UNIT = 64

# What a datetime can hold (years 1 to 9999): the API renders every time as RFC 3339.
MIN_US = -62_135_596_800_000_000
MAX_US = 253_402_300_799_999_999
MAX_ID = 36
MAX_LABEL = 256
MAX_CLIENT_ID = 64
MAX_TIMEOUT_S = 365 * 86400
_ESCAPED_NUL = b"\\u0000"


@dataclass(slots=True)
class Counts:
    """What an export wrote or an import stored."""

    sessions: int = 0
    skipped: int = 0
    """Import only: sessions already stored (or repeated in the file), left as they were."""
    state_history: int = 0
    events: int = 0
    metrics: int = 0

    def describe(self) -> str:
        rows = ", ".join(
            counted(n, what)
            for n, what in (
                (self.state_history, "state patch"),
                (self.events, "event"),
                (self.metrics, "metric"),
            )
        )
        return f"{counted(self.sessions, 'session')} ({rows})"


def counted(n: int, what: str) -> str:
    """``1 event``, ``2 events``, ``1 state patch``, ``2 state patches``."""
    if n == 1:
        return f"1 {what}"
    return f"{n:,} {what}{'es' if what.endswith('ch') else 's'}"


# -- writing ----------------------------------------------------------------------------


def head(row: dict[str, Any]) -> bytes:
    """The line up to its first list, left open: ``{...,"state_history":[``."""
    fields = {key: row[key] for key in HEAD_KEYS}
    fields["active"] = bool(fields["active"])
    return orjson.dumps(fields, option=SORTED)[:-1] + b',"state_history":['


HISTORY_TO_EVENTS = b'],"events":['
EVENTS_TO_METRICS = b'],"metrics":['
TAIL = b"]}\n"


def history_rows(rows: Sequence[Sequence[Any]], patches: Sequence[Any]) -> bytes:
    """Rows of (ts_us, _, client_id, …) with their decoded patches: comma-joined objects."""
    items = [
        {"ts_us": row[0], "patch": patch, "client_id": row[2]}
        for row, patch in zip(rows, patches, strict=True)
    ]
    return orjson.dumps(items, option=SORTED)[1:-1]


_EVENT_EXTRAS = tuple(enumerate(("level", "message", "category", "labels"), start=4))
_METRIC_EXTRAS = tuple(enumerate(("kind", "unit"), start=5))


def _with_extras(
    item: dict[str, Any], row: Sequence[Any], extras: tuple[tuple[int, str], ...]
) -> dict[str, Any]:
    for at, key in extras:
        if row[at] is not None:
            item[key] = row[at]
    return item


def event_rows(rows: Sequence[Sequence[Any]], data: Sequence[Any]) -> bytes:
    """Rows of (ts_us, name, _, client_id, level, message, category, labels (decoded), …)
    with their decoded data."""
    items = [
        _with_extras(
            {"ts_us": row[0], "name": row[1], "data": value, "client_id": row[3]},
            row,
            _EVENT_EXTRAS,
        )
        for row, value in zip(rows, data, strict=True)
    ]
    return orjson.dumps(items, option=SORTED)[1:-1]


Buckets = Mapping[tuple[int, str, int], Sequence[tuple[float | None, int]]]
"""A histogram's (le, count) buckets by its row's (session_pk, name, ts_us)."""


def metric_rows(
    rows: Sequence[Sequence[Any]], tags: Sequence[Any], buckets: Buckets | None = None
) -> bytes:
    """Rows of (ts_us, name, value, _, client_id, kind, unit, observations, session_pk, …)
    with their decoded tags; a histogram row (observations set) with its ``buckets``."""
    items = []
    runs: dict[tuple[int, str, int], list[list[bucketruns.LeCount]]] = {}
    for row, value in zip(rows, tags, strict=True):
        item = _with_extras(
            {"ts_us": row[0], "name": row[1], "value": row[2], "tags": value, "client_id": row[4]},
            row,
            _METRIC_EXTRAS,
        )
        if len(row) > 7 and row[7] is not None:
            item["count"] = row[7]
            key = (row[8], row[1], row[0])
            if key not in runs:  # rows come in id order, as take_run needs
                runs[key] = bucketruns.bucket_runs(list((buckets or {}).get(key, ())))
            item["buckets"] = [
                {"le": le, "count": n} for le, n in bucketruns.take_run(runs[key], row[7])
            ]
        items.append(item)
    return orjson.dumps(items, option=SORTED)[1:-1]


# -- reading ----------------------------------------------------------------------------


class LineError(ValueError):
    """What is wrong with a line, and where: ``events[3].name: must be ...``."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.message = message
        self.where = where

    def inside(self, outer: str) -> LineError:
        """The same error, seen from the list or object holding the value."""
        return LineError(self.message, f"{outer}.{self.where}" if self.where else outer)


@dataclass(slots=True)
class SessionRecord:
    """One line, checked and ready to insert: JSON values of the child rows are already
    encoded, as the writer's bulk inserts take them; the session's pk is not known yet."""

    session: dict[str, Any]
    history: list[tuple[int, str, str | None]] = field(default_factory=list)
    # In the bulk specs' column order (``store.bulk``), client id last; a histogram's
    # metric row also has its count and buckets after the client id.
    events: list[tuple[Any, ...]] = field(default_factory=list)
    metrics: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.session["id"])

    @property
    def rows(self) -> int:
        return len(self.history) + len(self.events) + len(self.metrics)


def parse_line(line: bytes) -> SessionRecord:
    """One exported line → a ``SessionRecord``; raises ``LineError`` naming what is wrong."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise LineError(f"not valid JSON: {exc}") from None
    if type(value) is not dict:
        raise LineError("must be a JSON object (one session)")
    same_keys(value, LINE_KEYS)
    session = {key: value[key] for key in HEAD_KEYS}
    check_session(session)
    record = SessionRecord(session)
    outs: tuple[list[Any], ...] = (record.history, record.events, record.metrics)
    for key, out in zip(LIST_KEYS, outs, strict=True):
        items = value[key]
        if type(items) is not list:
            raise LineError("must be a list", key)
        check = ROW_CHECKS[key]
        seen: set[str] = set()
        append = out.append
        for index, item in enumerate(items):
            try:
                append(check(item, seen))
            except LineError as exc:
                raise exc.inside(f"{key}[{index}]") from None
    return record


def check_session(s: dict[str, Any]) -> None:
    """A line's session fields (``HEAD_KEYS``, all present); makes a timeout a float."""
    session_id = s["id"]
    if type(session_id) is not str or not 0 < len(session_id) <= MAX_ID or "\x00" in session_id:
        raise LineError(f"must be a string of 1 to {MAX_ID} characters", "id")
    for key in ("created_us", "updated_us", "last_seen_us"):
        _time(s[key], key)
    if s["ended_us"] is not None:
        _time(s["ended_us"], "ended_us")
    if s["status"] not in STATUSES:
        raise LineError(f"must be one of {', '.join(STATUSES)}", "status")
    if type(s["active"]) is not bool:
        raise LineError("must be true or false", "active")
    for key in ("product", "version", "host"):
        if s[key] is not None:
            _label(s[key], key)
    if type(s["state"]) is not dict:
        raise LineError("must be an object", "state")
    _encode(s["state"], "state")
    if s["metadata"] is not None:
        if type(s["metadata"]) is not dict:
            raise LineError("must be an object or null", "metadata")
        _encode(s["metadata"], "metadata")
    timeout = s["heartbeat_timeout_s"]
    if timeout is not None:
        if type(timeout) not in (int, float) or not 0 < timeout <= MAX_TIMEOUT_S:
            raise LineError(
                f"must be null or seconds above 0 and at most {MAX_TIMEOUT_S}",
                "heartbeat_timeout_s",
            )
        s["heartbeat_timeout_s"] = float(timeout)


def _history_row(item: Any, seen: set[str]) -> tuple[int, str, str | None]:
    _row(item, HISTORY_KEYS)
    patch = item["patch"]
    if type(patch) is not dict:
        raise LineError("must be an object", "patch")
    return _time(item["ts_us"], "ts_us"), _encode(patch, "patch"), _client_id(item, seen)


def _event_row(item: Any, seen: set[str]) -> tuple[Any, ...]:
    _row(item, EVENT_KEYS, EVENT_OPTIONAL)
    level = item.get("level")
    if level is not None and level not in EVENT_LEVELS:
        raise LineError(f"must be null or one of {', '.join(EVENT_LEVELS)}", "level")
    message = item.get("message")
    if message is not None and (
        type(message) is not str or len(message) > MAX_MESSAGE or "\x00" in message
    ):
        raise LineError(f"must be null or a string of at most {MAX_MESSAGE} characters", "message")
    category = item.get("category")
    if category is not None:
        _label(category, "category")
    labels = item.get("labels")
    if labels is not None:
        if type(labels) is not list:
            raise LineError("must be a list of strings or null", "labels")
        for position, label in enumerate(labels):
            _label(label, f"labels[{position}]")
    return (
        _time(item["ts_us"], "ts_us"),
        _name(item["name"]),
        _encode(item["data"], "data"),
        level,
        message,
        category,
        None if labels is None else orjson.dumps(labels).decode(),
        _client_id(item, seen),
    )


def _metric_row(item: Any, seen: set[str]) -> tuple[Any, ...]:
    _row(item, METRIC_KEYS, METRIC_OPTIONAL)
    value = item["value"]
    if type(value) not in (float, int) or not math.isfinite(value):
        raise LineError("must be a finite number", "value")
    tags = item["tags"]
    if type(tags) is list:
        for position, tag in enumerate(tags):
            _label(tag, f"tags[{position}]")
    elif tags is not None and type(tags) is not dict:
        raise LineError("must be a list of strings, an object or null", "tags")
    row = (
        _time(item["ts_us"], "ts_us"),
        _name(item["name"]),
        float(value),
        _encode(tags, "tags"),
        _kind(item.get("kind")),
        _unit(item.get("unit")),
        _client_id(item, seen),
    )
    if "count" not in item and "buckets" not in item:
        return row
    return (*row, *_histogram(item, float(value)))


def _histogram(
    item: dict[str, Any], mean: float
) -> tuple[int, tuple[tuple[float | None, int], ...]]:
    """A histogram row's (count, buckets), held to the API's rules (``datacat.histogram``);
    such a row is 9 wide where a plain one is 7 (``SessionRecord.metrics``)."""
    if item.get("kind") != "histogram":
        raise LineError('only with kind "histogram"', "buckets")
    count, buckets = item.get("count"), item.get("buckets")
    if type(count) is not int or count < 0:
        raise LineError("must be a non-negative integer with buckets", "count")
    if type(buckets) is not list:
        raise LineError("must be a list of {le, count} with count", "buckets")
    pairs: list[tuple[float | None, int]] = []
    for position, bucket in enumerate(buckets):
        if type(bucket) is not dict or bucket.keys() != {"le", "count"}:
            raise LineError("must be an object with le and count", f"buckets[{position}]")
        le, n = bucket["le"], bucket["count"]
        if le is not None and type(le) not in (int, float):
            raise LineError("must be a number or null (+Inf)", f"buckets[{position}].le")
        if type(n) is not int:
            raise LineError("must be an integer", f"buckets[{position}].count")
        pairs.append((None if le is None else float(le), n))
    found = problem(pairs, mean * count, count)
    if found is not None:
        raise LineError(found.message, found.field)
    return count, tuple(pairs)


def _kind(value: Any) -> str | None:
    if value is None:
        return None
    if value not in METRIC_KINDS:
        raise LineError(f"must be null or one of {', '.join(METRIC_KINDS)}", "kind")
    return str(value)


def _unit(value: Any) -> str | None:
    if value is not None and (
        type(value) is not str or not 0 < len(value) <= MAX_UNIT or "\x00" in value
    ):
        raise LineError(f"must be null or a string of 1 to {MAX_UNIT} characters, no NUL", "unit")
    return value


RowCheck = Callable[[Any, set[str]], tuple[Any, ...]]
ROW_CHECKS: dict[str, RowCheck] = {
    "state_history": _history_row,
    "events": _event_row,
    "metrics": _metric_row,
}
"""Per list: a row as the bulk insert takes it, given the client ids seen so far in that
list; raises ``LineError`` naming the row's field."""


def same_keys(
    value: dict[str, Any], expected: frozenset[str], optional: frozenset[str] = frozenset()
) -> None:
    missing = sorted(expected - value.keys())
    if missing:
        raise LineError(f"missing field {missing[0]!r}")
    unknown = sorted(value.keys() - expected - optional)
    if unknown:
        raise LineError(f"unknown field {unknown[0]!r}")


def _row(item: Any, keys: frozenset[str], optional: frozenset[str] = frozenset()) -> None:
    if type(item) is not dict:
        raise LineError("must be an object")
    if item.keys() != keys:
        same_keys(item, keys, optional)


def _time(value: Any, where: str) -> int:
    if type(value) is not int or not MIN_US <= value <= MAX_US:
        raise LineError("must be integer microseconds since 1970 (years 1 to 9999)", where)
    return value


def _label(value: Any, where: str) -> None:
    if type(value) is not str or len(value) > MAX_LABEL or "\x00" in value:
        raise LineError(f"must be a string of at most {MAX_LABEL} characters, no NUL", where)


def _name(value: Any) -> str:
    if type(value) is not str or not 0 < len(value) <= MAX_LABEL or "\x00" in value:
        raise LineError(f"must be a string of 1 to {MAX_LABEL} characters, no NUL", "name")
    return value


def _client_id(item: dict[str, Any], seen: set[str]) -> str | None:
    value = item["client_id"]
    if value is None:
        return None
    if type(value) is not str or not 0 < len(value) <= MAX_CLIENT_ID or "\x00" in value:
        raise LineError(
            f"must be null or a string of 1 to {MAX_CLIENT_ID} characters, no NUL", "client_id"
        )
    if value in seen:
        raise LineError(f"{value!r} appears twice in this session", "client_id")
    seen.add(value)
    return value


def _encode(value: Any, where: str) -> str:
    """The JSON text to store; PostgreSQL refuses a NUL anywhere in it (``jsoncheck``
    tells a real NUL from a backslash followed by ``u0000``)."""
    encoded = orjson.dumps(value)
    if _ESCAPED_NUL in encoded:
        try:
            check_json(value)
        except ValueError as exc:
            raise LineError(str(exc), where) from None
    return encoded.decode()
