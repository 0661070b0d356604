"""Multi-row inserts for the hot tables, written once per dialect.

SQLAlchemy's per-row parameter processing cost more than SQLite's own work for an event,
so the writer hands this module plain tuples with JSON already encoded, and gets back
which client ids were new. SQLite takes one multi-row ``VALUES`` statement per chunk;
PostgreSQL takes one ``unnest`` of column arrays. Table and column names come from the
fixed specs below, never from input; every value is a bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Any

from sqlalchemy.engine import Connection

# SQLite's default limit on bound parameters per statement (SQLITE_MAX_VARIABLE_NUMBER).
_SQLITE_MAX_PARAMS = 32766


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A hot table's inserted columns; ``client_id`` is always the last one."""

    name: str
    columns: tuple[str, ...]
    pg_types: tuple[str, ...]  # array element types for unnest; "jsonb" columns arrive as text
    narrow: TableSpec | None = None
    """The same table without its rarely-set columns (issue 12's, NULL when absent): a row
    of that width leaves them out. Binding four NULLs per event cost 2 µs of an event
    POST's ~40 (in-process), so the usual row, which has none of them, does not."""


def _spec(name: str, columns: str, pg_types: str, rare: str = "") -> TableSpec:
    names, kinds = tuple(columns.split()), tuple(pg_types.split())
    narrow = None
    if rare:
        kept = [i for i, column in enumerate(names) if column not in rare.split()]
        narrow = TableSpec(name, tuple(names[i] for i in kept), tuple(kinds[i] for i in kept))
    return TableSpec(name, names, kinds, narrow)


EVENTS = _spec(
    "events",
    "session_pk ts_us name data level message category labels fingerprint fatal client_id",
    "bigint bigint text jsonb text text text jsonb text boolean text",
    rare="level message category labels fingerprint fatal",
)
METRICS = _spec(
    "metrics",
    "session_pk ts_us name value tags kind unit client_id",
    "bigint bigint text float8 jsonb text text text",
    rare="kind unit",
)
HISTOGRAMS = _spec(
    "metrics",
    "session_pk ts_us name value tags kind unit observations client_id",
    "bigint bigint text float8 jsonb text text bigint text",
)
"""Histogram rows of ``metrics`` (migration 0006): the only ones binding ``observations``,
so the usual metric row keeps its width."""
METRIC_BUCKETS = _spec(
    "metric_buckets", "session_pk ts_us name le count", "bigint bigint text float8 bigint"
)
"""A histogram's buckets. ``client_id`` is not a column here (the writer inserts a keyed
histogram's buckets only once its row was stored), so never insert with skip_duplicates."""
STATE_HISTORY = _spec(
    "state_history", "session_pk ts_us patch client_id", "bigint bigint jsonb text"
)

_PG_RETURNING = " ON CONFLICT DO NOTHING RETURNING session_pk, client_id"


def insert_rows(
    conn: Connection, spec: TableSpec, rows: list[tuple[Any, ...]], skip_duplicates: bool
) -> list[tuple[int, str]]:
    """Insert ``rows``; with ``skip_duplicates``, return the (session_pk, client_id) stored.

    Rows may have the width of ``spec`` or of ``spec.narrow``; each run of one width is
    one insert, so rows are still stored (and numbered) in the order given.
    """
    if not rows:
        return []
    narrow = spec.narrow
    if narrow is not None:
        short = len(narrow.columns)
        widths = {len(row) for row in rows}
        if widths == {short}:
            spec = narrow
        elif len(widths) > 1:
            stored: list[tuple[int, str]] = []
            start = 0
            for end in range(1, len(rows) + 1):
                if end == len(rows) or len(rows[end]) != len(rows[start]):
                    run = rows[start:end]
                    part = narrow if len(run[0]) == short else spec
                    stored += _insert(conn, part, run, skip_duplicates)
                    start = end
            return stored
    return _insert(conn, spec, rows, skip_duplicates)


def _insert(
    conn: Connection, spec: TableSpec, rows: list[tuple[Any, ...]], skip_duplicates: bool
) -> list[tuple[int, str]]:
    if conn.dialect.name == "postgresql":
        return _insert_postgresql(conn, spec, rows, skip_duplicates)
    return _insert_sqlite(conn, spec, rows, skip_duplicates)


def _insert_sqlite(
    conn: Connection, spec: TableSpec, rows: list[tuple[Any, ...]], skip_duplicates: bool
) -> list[tuple[int, str]]:
    width = len(spec.columns)
    group = "(" + ",".join("?" * width) + ")"
    head = f"INSERT INTO {spec.name} ({', '.join(spec.columns)}) VALUES "
    chunk = _SQLITE_MAX_PARAMS // width
    client_id_at = width - 1
    stored: list[tuple[int, str]] = []
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        sql = head + ",".join([group] * len(part))
        if skip_duplicates:
            sql += " ON CONFLICT DO NOTHING"
        # chain: half the cost of a generator over 2,500 values (~30 µs a 500-row batch).
        params = tuple(chain.from_iterable(part))
        result = conn.exec_driver_sql(sql, params)
        if not skip_duplicates:
            continue
        if result.rowcount == len(part):
            # The usual case: nothing was a repeat, so no need to read anything back.
            stored.extend((row[0], row[client_id_at]) for row in part)
            continue
        # Some were repeats. The writer holds the write lock, so the rows just stored are
        # exactly the newest ``rowcount`` rowids.
        last = result.lastrowid
        if result.rowcount:
            back = conn.exec_driver_sql(
                f"SELECT session_pk, client_id FROM {spec.name} WHERE id > ? AND id <= ?",
                (last - result.rowcount, last),
            )
            stored.extend((pk, client_id) for pk, client_id in back)
    return stored


def _insert_postgresql(
    conn: Connection, spec: TableSpec, rows: list[tuple[Any, ...]], skip_duplicates: bool
) -> list[tuple[int, str]]:
    arrays = ", ".join(
        f"${i}::{'text' if kind == 'jsonb' else kind}[]"
        for i, kind in enumerate(spec.pg_types, start=1)
    )
    selected = ", ".join(
        f"t.{column}::jsonb" if kind == "jsonb" else f"t.{column}"
        for column, kind in zip(spec.columns, spec.pg_types, strict=True)
    )
    sql = (
        f"INSERT INTO {spec.name} ({', '.join(spec.columns)}) "
        f"SELECT {selected} FROM unnest({arrays}) AS t({', '.join(spec.columns)})"
        + (_PG_RETURNING if skip_duplicates else "")
    )
    columns = tuple(list(column) for column in zip(*rows, strict=True))
    result = conn.exec_driver_sql(sql, columns)
    if not skip_duplicates:
        return []
    return [(pk, client_id) for pk, client_id in result]
