"""Filters on session state, built as bound SQL expressions for each dialect.

The seed compared values as text, so ``5`` matches 5 and "5", and ``true`` matches true.
Both dialects here produce the same text for a JSON scalar: strings without quotes,
numbers as written, booleans as ``true``/``false``, null as SQL NULL.

``ever`` needs no replay of history: a patch that put value V at path P contains P itself
(objects merge key by key, so the value at P after a patch is the patch's own value at P
whenever the patch reaches P). So "state ever had V at P" is "some stored patch has V at P".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, case, cast, exists, func, literal, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from datacat.store.tables import sessions, state_history

Expr = ColumnElement[Any]
Condition = ColumnElement[bool]


class StateMode(str, Enum):
    current = "current"
    contains = "contains"
    ever = "ever"


class InvalidPath(ValueError):
    pass


PATH_PATTERN = '^[^."\\u0000]+(\\.[^."\\u0000]+)*$'
"""What ``parse_path`` accepts, as the API declares it: dot-separated keys, none empty."""


def parse_path(path: str) -> list[str]:
    """Split dot notation (``window_state.open``) into keys; digits index arrays."""
    keys = path.split(".")
    if not path or any(not key for key in keys):
        raise InvalidPath("state_path must be dot-separated non-empty keys, e.g. 'window.open'")
    if any('"' in key or "\x00" in key for key in keys):
        raise InvalidPath("state_path keys may not contain quotes or NUL characters")
    return keys


@dataclass(frozen=True, slots=True)
class StateFilter:
    keys: tuple[str, ...]
    value: str
    mode: StateMode

    @classmethod
    def build(cls, path: str, value: str, mode: StateMode) -> StateFilter:
        return cls(tuple(parse_path(path)), value, mode)


def state_filter(
    path: str | None, value: str | None, mode: str | None, *, partial: bool = False
) -> StateFilter | None:
    """The filter a path, a value and a mode name ask for; ``None`` when none is asked.

    A path without a value (or the reverse) is an error for the API, where both come in one
    request; the UI passes ``partial=True`` because its forms hold half a filter while the
    user types, and that should filter nothing rather than fail. ``mode`` defaults to
    ``current``. Every problem is an ``InvalidPath`` (a ``ValueError``) whose text is
    written for the person who typed the filter.
    """
    if path is None and value is None:
        return None
    if path is None or value is None:
        if partial:
            return None
        raise InvalidPath("state_path and state_value must be given together")
    try:
        state_mode = StateMode(mode or StateMode.current)
    except ValueError as exc:
        modes = ", ".join(m.value for m in StateMode)
        raise InvalidPath(f"unknown filter mode {mode!r}: one of {modes}") from exc
    return StateFilter.build(path, value, state_mode)


def _sqlite_path(keys: tuple[str, ...]) -> str:
    return "$" + "".join(f"[{key}]" if key.isdigit() else f'."{key}"' for key in keys)


def _sqlite_text(json_type: Expr, sql_value: Expr) -> ColumnElement[str]:
    # json_extract turns true/false into 1/0; name them as the JSON does.
    return case(
        (json_type == "true", literal("true")),
        (json_type == "false", literal("false")),
        else_=cast(sql_value, Text),
    )


def _sqlite_equals(column: Expr, keys: tuple[str, ...], value: str) -> Condition:
    path = _sqlite_path(keys)
    return _sqlite_text(func.json_type(column, path), func.json_extract(column, path)) == value


def _sqlite_contains(column: Expr, keys: tuple[str, ...], value: str) -> Condition:
    path = _sqlite_path(keys)
    member = func.json_each(column, path).table_valued("value", "type").alias("member")
    return and_(
        func.json_type(column, path) == "array",
        exists(
            select(literal(1))
            .select_from(member)
            .where(_sqlite_text(member.c.type, member.c.value) == value)
        ),
    )


def _pg_equals(column: Expr, keys: tuple[str, ...], value: str) -> Condition:
    return column.op("#>>", return_type=Text)(literal(list(keys), ARRAY(Text))) == value


def _pg_contains(column: Expr, keys: tuple[str, ...], value: str) -> Condition:
    at_path = column.op("#>", return_type=JSONB)(literal(list(keys), ARRAY(Text)))
    array = case((func.jsonb_typeof(at_path) == "array", at_path), else_=literal([], JSONB))
    member = func.jsonb_array_elements_text(array).table_valued("value").alias("member")
    return exists(select(literal(1)).select_from(member).where(member.c.value == value))


def state_condition(state_filter: StateFilter, dialect: str) -> ColumnElement[bool]:
    """A WHERE clause on ``sessions`` for the filter; every user value is a bound parameter."""
    equals, contains = (
        (_pg_equals, _pg_contains)
        if dialect == "postgresql"
        else (_sqlite_equals, _sqlite_contains)
    )
    keys, value = state_filter.keys, state_filter.value
    if state_filter.mode is StateMode.current:
        return equals(sessions.c.state, keys, value)
    if state_filter.mode is StateMode.contains:
        return contains(sessions.c.state, keys, value)
    patch = state_history.c.patch
    return exists(
        select(literal(1)).where(
            state_history.c.session_pk == sessions.c.pk,
            or_(equals(patch, keys, value), contains(patch, keys, value)),
        )
    )
