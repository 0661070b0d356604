"""What a group of write units does, decided without touching the database.

The writer resolves session pks, reads the session rows the group must rewrite and the
client ids already applied (state patches, and status-changing events: a resent ``hung``
must not move the status a second time), then hands them here; ``plan`` returns every row to
insert, every session row to rewrite and how each unit's ops were counted, and the writer
executes that. Keeping the decisions pure means the group-commit rules are tested on plain
data, and the writer's SQL cannot disagree with them.

Each op kind has exactly one rule (``_RULES``): a predicate saying whether it needs the
session row and the function applying its effect. The writer loads rows with the same
predicate (``needs_row``) that ``plan`` uses to hand a row to the apply function, and an
apply function sees only the row it was handed, so "which ops need the row" cannot drift
from "which ops change the row".

An op counts as accepted unless its rule marks it a duplicate, or leaves it *pending*: an
event or metric with a client id is new or a repeat only once its insert reports which
ids were stored, so the writer settles those.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from datacat.store import status as rules
from datacat.store.bulk import EVENTS, METRICS, STATE_HISTORY
from datacat.store.merge import deep_merge
from datacat.store.ops import (
    CreateSession,
    EndSession,
    Heartbeat,
    LogEvent,
    LogMetric,
    Op,
    UpdateState,
)

# Keys of client ids use the table's name: hashing a str is far cheaper than a spec.
_EVENTS = EVENTS.name
_METRICS = METRICS.name
_STATE_HISTORY = STATE_HISTORY.name


@dataclass(slots=True)
class SessionRow:
    """The columns of a session that a group's writes can change."""

    status: str
    active: bool
    ended_us: int | None
    state: dict[str, Any] | None
    timeout_s: float | None


@dataclass(slots=True)
class GroupPlan:
    """Everything a group writes, as plain data ready for the bulk inserts and updates.

    Rows with a client id go apart from those without: only they can be repeats of rows
    stored earlier, so only they need the insert that reports which ones were new.
    """

    events_plain: list[tuple[Any, ...]] = field(default_factory=list)
    events_keyed: list[tuple[Any, ...]] = field(default_factory=list)
    metrics_plain: list[tuple[Any, ...]] = field(default_factory=list)
    metrics_keyed: list[tuple[Any, ...]] = field(default_factory=list)
    history: list[tuple[Any, ...]] = field(default_factory=list)
    metric_names: set[str] = field(default_factory=set)
    # Histogram rows in ``HISTOGRAMS``' column order, apart so the usual metric row never
    # binds ``observations``; their buckets in ``METRIC_BUCKETS``' order, each with its
    # metric's client id: a keyed one is written only if its metric row was (a resent
    # histogram must not count its buckets twice).
    histograms_plain: list[tuple[Any, ...]] = field(default_factory=list)
    histograms_keyed: list[tuple[Any, ...]] = field(default_factory=list)
    buckets: list[tuple[str | None, tuple[Any, ...]]] = field(default_factory=list)
    # Every session that received a write, duplicate or not: it proves the client alive.
    touched: set[int] = field(default_factory=set)
    # Sessions whose row changed, in pk order (the order PostgreSQL locked them in).
    rewrites: list[tuple[int, SessionRow]] = field(default_factory=list)
    # Per unit, by position: ops already known to be accepted or duplicates.
    accepted: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    # (unit position, table name, session pk, client id) of keyed rows the insert settles.
    pending: list[tuple[int, str, int, str]] = field(default_factory=list)


@dataclass(slots=True)
class _Planner:
    """A plan being built: the inputs the rules read, the plan they fill."""

    now: int
    applied: Set[tuple[int, str]]
    applied_events: Set[tuple[int, str]]
    rows: dict[int, SessionRow]
    out: GroupPlan
    dirty: set[int] = field(default_factory=set)
    seen: set[tuple[str, int, str]] = field(default_factory=set)


class _Rule(NamedTuple):
    """One op kind's rule; a tuple so the hot loop unpacks it in one step."""

    needs_row: Callable[[Any], bool]
    # (planner, unit position, session pk, op, the row if needs_row said so, else None)
    apply: Callable[[_Planner, int, int, Any, Any], None]


def needs_row(op: Op) -> bool:
    """Whether ``plan`` will hand this op its session row, so the writer must load it."""
    return _RULES[type(op)].needs_row(op)


def plan(
    units: Sequence[Sequence[Op]],
    pks: Mapping[str, int],
    rows: Mapping[int, SessionRow],
    applied_patches: Set[tuple[int, str]],
    now: int,
    applied_events: Set[tuple[int, str]] = frozenset(),
) -> GroupPlan:
    """Decide what ``units`` write, in order, as if each were applied after the last.

    ``pks`` must resolve every op's session (the writer answers units naming unknown
    sessions before planning); ``rows`` must hold the row of every session with an op
    for which ``needs_row`` is true; ``applied_patches`` lists the (session pk, client
    id) of state patches stored by earlier groups, ``applied_events`` those of this
    group's status-changing events (``status.event_changes_status``) stored earlier.
    Nothing passed in is modified.
    """
    planner = _Planner(
        now,
        applied_patches,
        applied_events,
        {
            pk: SessionRow(row.status, row.active, row.ended_us, row.state, row.timeout_s)
            for pk, row in rows.items()
        },
        GroupPlan(duplicates=[0] * len(units)),
    )
    working = planner.rows
    table = _RULES
    for index, ops in enumerate(units):
        for op in ops:
            wants_row, apply = table[type(op)]
            pk = pks[op.session_id]
            apply(planner, index, pk, op, working[pk] if wants_row(op) else None)
    out = planner.out
    out.accepted = [
        len(ops) - duplicates for ops, duplicates in zip(units, out.duplicates, strict=True)
    ]
    for index, _, _, _ in out.pending:
        out.accepted[index] -= 1
    for pk in sorted(planner.dirty):
        row = working[pk]
        # The write itself is a keep-alive, whatever else it did to the row.
        row.status = rules.status_after_keepalive(row.status)
        out.rewrites.append((pk, row))
    return out


def _always(op: Any) -> bool:
    return True


def _never(op: Any) -> bool:
    return False


def _event_needs_row(op: LogEvent) -> bool:
    return rules.event_changes_status(op.name)


def _create(p: _Planner, unit: int, pk: int, op: CreateSession, row: None) -> None:
    """Inserted before planning with this group's time, so there is nothing left to do."""


def _update_state(p: _Planner, unit: int, pk: int, op: UpdateState, row: SessionRow) -> None:
    p.out.touched.add(pk)
    if op.client_id is not None:
        key = (_STATE_HISTORY, pk, op.client_id)
        if (pk, op.client_id) in p.applied or key in p.seen:
            p.out.duplicates[unit] += 1
            return
        p.seen.add(key)
    p.dirty.add(pk)
    row.state = deep_merge(row.state or {}, op.patch)
    p.out.history.append((pk, op.ts_us or p.now, stored_json(op.patch), op.client_id))


def _log_event(p: _Planner, unit: int, pk: int, op: LogEvent, row: SessionRow | None) -> None:
    out = p.out
    out.touched.add(pk)
    ts = op.ts_us if op.ts_us is not None else p.now
    client_id = op.client_id
    if client_id is None:
        out.events_plain.append(_event_row(op, pk, ts, None))
    else:
        key = (_EVENTS, pk, client_id)
        if key in p.seen or (row is not None and (pk, client_id) in p.applied_events):
            # A repeat within the group, or a status-changing event stored by an earlier
            # one: its insert would be skipped, and its status change must be too.
            out.duplicates[unit] += 1
            return
        p.seen.add(key)
        out.pending.append((unit, _EVENTS, pk, client_id))
        out.events_keyed.append(_event_row(op, pk, ts, client_id))
    if row is not None:
        new = rules.status_after_event(row.status, op.name, op.data)
        if new != row.status:
            p.dirty.add(pk)
            row.status = new


def _log_metric(p: _Planner, unit: int, pk: int, op: LogMetric, row: None) -> None:
    out = p.out
    out.touched.add(pk)
    ts = op.ts_us if op.ts_us is not None else p.now
    client_id = op.client_id
    histogram = op.observations is not None
    if client_id is None:
        rows = out.histograms_plain if histogram else out.metrics_plain
        rows.append(_metric_row(op, pk, ts, None))
    else:
        key = (_METRICS, pk, client_id)
        if key in p.seen:
            out.duplicates[unit] += 1
            return
        p.seen.add(key)
        out.pending.append((unit, _METRICS, pk, client_id))
        rows = out.histograms_keyed if histogram else out.metrics_keyed
        rows.append(_metric_row(op, pk, ts, client_id))
    out.metric_names.add(op.name)
    if op.buckets is not None:
        out.buckets.extend((client_id, (pk, ts, op.name, le, n)) for le, n in op.buckets)


def _heartbeat(p: _Planner, unit: int, pk: int, op: Heartbeat, row: SessionRow) -> None:
    p.out.touched.add(pk)
    p.dirty.add(pk)
    row.status = rules.status_after_keepalive(row.status)
    if op.timeout_s is not None:
        row.timeout_s = op.timeout_s


def _end(p: _Planner, unit: int, pk: int, op: EndSession, row: SessionRow) -> None:
    p.out.touched.add(pk)
    p.dirty.add(pk)
    row.status = rules.status_after_end(row.status, op.crashed)
    row.active = False
    if row.ended_us is None:
        row.ended_us = p.now


_RULES: dict[type, _Rule] = {
    CreateSession: _Rule(_never, _create),
    UpdateState: _Rule(_always, _update_state),
    LogEvent: _Rule(_event_needs_row, _log_event),
    LogMetric: _Rule(_never, _log_metric),
    Heartbeat: _Rule(_always, _heartbeat),
    EndSession: _Rule(_always, _end),
}


def stored_json(value: Any) -> str:
    """A JSON value as the rows store it; ``api.toops`` encodes event data with it ahead
    of planning (``LogEvent.data_json``), so both must be this one encoding."""
    return orjson.dumps(value).decode()


def _event_row(op: LogEvent, pk: int, ts: int, client_id: str | None) -> tuple[Any, ...]:
    """In ``EVENTS``' column order, or ``EVENTS.narrow``'s when none of issue 12's fields
    is set (most events): they stay NULL, read as the defaults. ``fatal`` is set only
    with a fingerprint, so the fingerprint alone decides."""
    data = op.data_json if op.data_json is not None else stored_json(op.data)
    if (
        op.level is None
        and op.message is None
        and op.category is None
        and op.labels is None
        and op.fingerprint is None
    ):
        return (pk, ts, op.name, data, client_id)
    labels = None if op.labels is None else stored_json(op.labels)
    return (
        pk,
        ts,
        op.name,
        data,
        op.level,
        op.message,
        op.category,
        labels,
        op.fingerprint,
        op.fatal,
        client_id,
    )


def _metric_row(op: LogMetric, pk: int, ts: int, client_id: str | None) -> tuple[Any, ...]:
    """In ``METRICS``' column order, ``METRICS.narrow``'s without a kind or unit, or
    ``HISTOGRAMS``' with an observation count."""
    if op.observations is not None:
        tags = stored_json(op.tags)
        return (pk, ts, op.name, op.value, tags, op.kind, op.unit, op.observations, client_id)
    if op.kind is None and op.unit is None:
        return (pk, ts, op.name, op.value, stored_json(op.tags), client_id)
    return (pk, ts, op.name, op.value, stored_json(op.tags), op.kind, op.unit, client_id)
