"""The writer's plan: its rules on plain data, and a group writing what its units write alone.

Group commit is only an optimisation if a group of units leaves the database exactly as the
same units applied one after the other would, and answers each unit the same. The property
test checks that on a real database through the real ``Repository``; the plain-data tests
pin the rules ``plan`` applies.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from datacat.store import status as rules
from datacat.store.ops import (
    CreateSession,
    EndSession,
    Heartbeat,
    LogEvent,
    LogMetric,
    Op,
    UpdateState,
)
from datacat.store.plan import SessionRow, needs_row, plan
from datacat.store.repository import Repository
from datacat.store.tables import events, metric_names, metrics, sessions, state_history

NOW = 1_000_000
PKS = {"s1": 1, "s2": 2, "new": 3}


def row(status: str = rules.ACTIVE, state: dict[str, Any] | None = None) -> SessionRow:
    return SessionRow(status, True, None, {} if state is None else state, None)


# -- plan on plain data ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        (CreateSession("new"), False),
        (LogEvent("s1", "step"), False),
        (LogEvent("s1", rules.HUNG_EVENT), True),
        (LogEvent("s1", rules.RECOVERED_EVENT), True),
        (LogEvent("s1", rules.EXCEPTION_EVENT), True),
        (LogMetric("s1", "loss", 1.0), False),
        (UpdateState("s1", {"a": 1}), True),
        (Heartbeat("s1"), True),
        (EndSession("s1"), True),
    ],
)
def test_only_ops_that_change_the_session_row_need_it(op: Op, expected: bool) -> None:
    assert needs_row(op) is expected


def test_state_patches_merge_in_order_and_a_resent_one_is_a_duplicate() -> None:
    rows = {1: row(state={"a": {"b": 1}})}
    planned = plan(
        [
            [UpdateState("s1", {"a": {"c": 2}}, client_id="x")],
            [UpdateState("s1", {"a": {"b": 3}}, client_id="x"), UpdateState("s1", {"z": 1})],
            [UpdateState("s1", {"old": 1}, ts_us=5, client_id="stored")],
        ],
        PKS,
        rows,
        {(1, "stored")},
        NOW,
    )
    assert planned.rewrites == [(1, row(state={"a": {"b": 1, "c": 2}, "z": 1}))]
    assert planned.history == [
        (1, NOW, '{"a":{"c":2}}', "x"),
        (1, NOW, '{"z":1}', None),
    ]
    assert planned.accepted == [1, 1, 0]
    assert planned.duplicates == [0, 1, 1]
    assert planned.touched == {1}
    assert rows == {1: row(state={"a": {"b": 1}})}, "the caller's rows are not modified"


def test_keyed_events_and_metrics_wait_for_the_insert_plain_ones_are_accepted() -> None:
    planned = plan(
        [
            [
                LogEvent("s1", "step", {"n": 1}),
                LogEvent("s1", "step", ts_us=7, client_id="e", level="error", labels=["a"]),
            ],
            [LogEvent("s1", "step", client_id="e"), LogMetric("s2", "loss", 0.5, client_id="e")],
            [
                LogMetric("s2", "acc", 1.0, {"k": "v"}, kind="counter", unit="%"),
                LogMetric("s2", "loss", 0.5, client_id="e"),
            ],
        ],
        PKS,
        {},
        set(),
        NOW,
    )
    # Rows in ``bulk``'s column order, client id last; without issue 12's fields, narrow.
    assert planned.events_plain == [(1, NOW, "step", '{"n":1}', None)]
    assert planned.events_keyed == [
        (1, 7, "step", "null", "error", None, None, '["a"]', None, None, "e")
    ]
    assert planned.metrics_plain == [(2, NOW, "acc", 1.0, '{"k":"v"}', "counter", "%", None)]
    assert planned.metrics_keyed == [(2, NOW, "loss", 0.5, "null", "e")]
    # The same client id in another table or session is not a repeat; in the same one it is.
    assert planned.pending == [(0, "events", 1, "e"), (1, "metrics", 2, "e")]
    assert planned.accepted == [1, 0, 1]
    assert planned.duplicates == [0, 1, 1]
    assert planned.metric_names == {"loss", "acc"}
    assert planned.touched == {1, 2}
    assert planned.rewrites == []


def test_status_events_move_the_status_and_the_rest_leave_the_row_alone() -> None:
    planned = plan(
        [
            [LogEvent("s1", rules.HUNG_EVENT), LogEvent("s1", "step")],
            [LogEvent("s2", rules.EXCEPTION_EVENT, {"fatal": False})],
        ],
        PKS,
        {1: row(), 2: row()},
        set(),
        NOW,
    )
    assert planned.rewrites == [(1, row(rules.HUNG))]


def test_a_fatal_exception_is_final() -> None:
    planned = plan(
        [
            [LogEvent("s1", rules.EXCEPTION_EVENT, {"fatal": True})],
            [LogEvent("s1", rules.RECOVERED_EVENT), EndSession("s1")],
        ],
        PKS,
        {1: row(rules.HUNG)},
        set(),
        NOW,
    )
    assert planned.rewrites == [(1, SessionRow(rules.CRASHED, False, NOW, {}, None))]


def test_an_end_keeps_the_first_end_time_and_a_heartbeat_sets_the_timeout() -> None:
    ended = SessionRow(rules.ENDED, False, 5, {}, None)
    planned = plan(
        [[EndSession("s1", crashed=True), Heartbeat("s2", 30.0), Heartbeat("s2")]],
        PKS,
        {1: ended, 2: row()},
        set(),
        NOW,
    )
    assert planned.rewrites == [
        (1, SessionRow(rules.CRASHED, False, 5, {}, None)),
        (2, SessionRow(rules.ACTIVE, True, None, {}, 30.0)),
    ]


def test_any_write_that_rewrites_the_row_brings_an_abandoned_session_back() -> None:
    planned = plan(
        [[UpdateState("s1", {"a": 1})], [LogEvent("s2", "step")]],
        PKS,
        {1: row(rules.ABANDONED)},
        set(),
        NOW,
    )
    assert planned.rewrites == [(1, row(rules.ACTIVE, {"a": 1}))]
    # s2's row is not rewritten; the writer's touch brings it back in SQL.
    assert planned.touched == {1, 2}


def test_a_created_session_is_accepted_and_not_touched() -> None:
    planned = plan([[CreateSession("new")]], PKS, {}, set(), NOW)
    assert planned.accepted == [1]
    assert planned.touched == set()


# -- random groups, planned and applied --------------------------------------------------

EVENT_NAMES = ("step", rules.HUNG_EVENT, rules.RECOVERED_EVENT, rules.EXCEPTION_EVENT)
GHOST = "ghost"  # a session that is never created

client_ids = st.none() | st.sampled_from(("a", "b"))
client_times = st.none() | st.integers(1, 1_000)
patches = st.dictionaries(
    st.sampled_from("xyz"),
    st.integers(0, 3) | st.dictionaries(st.sampled_from("pq"), st.integers(0, 3), max_size=2),
    max_size=2,
)


def ops_on(refs: st.SearchStrategy[str]) -> st.SearchStrategy[Op]:
    return st.one_of(
        st.builds(UpdateState, refs, patches, client_times, client_ids),
        st.builds(
            LogEvent,
            refs,
            st.sampled_from(EVENT_NAMES),
            st.none() | st.sampled_from(({"fatal": True}, {"fatal": False}, {"n": 1})),
            client_times,
            client_ids,
        ),
        st.builds(
            LogMetric,
            refs,
            st.sampled_from(("loss", "acc")),
            st.integers(-2, 2).map(float),
            st.none() | st.just({"k": 1}),
            client_times,
            client_ids,
        ),
        st.builds(Heartbeat, refs, st.none() | st.sampled_from((5.0, 30.0))),
        st.builds(EndSession, refs, st.booleans()),
    )


@settings(max_examples=100)
@given(
    st.lists(st.lists(ops_on(st.sampled_from(("s1", "s2"))), min_size=1, max_size=4), max_size=5)
)
def test_plan_reads_only_the_rows_needs_row_names_and_settles_every_op(
    units: list[list[Op]],
) -> None:
    needed = {PKS[op.session_id] for ops in units for op in ops if needs_row(op)}
    rows = {pk: row(state={"keep": {"n": 1}}) for pk in needed}
    planned = plan(units, PKS, rows, set(), NOW)
    assert rows == {pk: row(state={"keep": {"n": 1}}) for pk in needed}
    assert {pk for pk, _ in planned.rewrites} <= needed
    settled = [a + d for a, d in zip(planned.accepted, planned.duplicates, strict=True)]
    for index, *_ in planned.pending:
        settled[index] += 1
    assert settled == [len(ops) for ops in units]


@dataclass(slots=True)
class Scenario:
    """Ops name sessions by placeholder (``pre0``, ``new0``, ``ghost``); each run maps them
    to sessions of its own, so both runs share one database without meeting."""

    pre_statuses: list[str]
    new_sessions: list[str]
    prelude: list[Op]
    units: list[list[Op]]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    pre_statuses = draw(
        st.lists(
            st.sampled_from((rules.ACTIVE, rules.HUNG, rules.ABANDONED)), min_size=1, max_size=3
        )
    )
    pre = [f"pre{i}" for i in range(len(pre_statuses))]
    n_units = draw(st.integers(1, 6))
    created_in = draw(st.lists(st.integers(0, n_units - 1), max_size=2))
    prelude = draw(st.lists(ops_on(st.sampled_from(pre)), max_size=4))
    units = []
    for index in range(n_units):
        # A session created by a later unit would exist already when the group runs.
        new_here = [f"new{n}" for n, at in enumerate(created_in) if at == index]
        known = pre + [f"new{n}" for n, at in enumerate(created_in) if at <= index]
        refs = st.sampled_from(known * 4 + [GHOST])
        ops = draw(st.lists(ops_on(refs), min_size=0 if new_here else 1, max_size=4))
        for session in new_here:
            ops.insert(draw(st.integers(0, len(ops))), CreateSession(session))
        units.append(ops)
    return Scenario(pre_statuses, [f"new{n}" for n in range(len(created_in))], prelude, units)


def _json_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _client_time(ts: int) -> int | None:
    """Server-stamped times legitimately differ between runs; client times must not."""
    return ts if ts <= 1_000 else None


async def _snapshot(repo: Repository, names: dict[str, str]) -> dict[str, Any]:
    placeholder = {real: name for name, real in names.items()}
    async with repo.engine.connect() as conn:
        found = (
            await conn.execute(
                select(
                    sessions.c.pk,
                    sessions.c.id,
                    sessions.c.status,
                    sessions.c.active,
                    sessions.c.ended_us,
                    sessions.c.state,
                    sessions.c.heartbeat_timeout_s,
                ).where(sessions.c.id.in_(list(placeholder)))
            )
        ).all()
        by_pk = {r.pk: placeholder[r.id] for r in found}
        event_rows = await conn.execute(select(events).where(events.c.session_pk.in_(list(by_pk))))
        metric_rows = (
            await conn.execute(select(metrics).where(metrics.c.session_pk.in_(list(by_pk))))
        ).all()
        history_rows = await conn.execute(
            select(state_history)
            .where(state_history.c.session_pk.in_(list(by_pk)))
            .order_by(state_history.c.id)
        )
        known_names = set((await conn.execute(select(metric_names.c.name))).scalars())
    assert {r.name for r in metric_rows} <= known_names
    return {
        "sessions": sorted(
            (
                by_pk[r.pk],
                r.status,
                r.active,
                r.ended_us is not None,
                _json_key(r.state),
                r.heartbeat_timeout_s,
            )
            for r in found
        ),
        # Within a group, rows without a client id are inserted before those with one, so
        # ids (and listing order) legitimately differ from one-at-a-time: compare as sets.
        "events": sorted(
            (
                by_pk[r.session_pk],
                r.name,
                _json_key(r.data),
                r.client_id or "",
                _client_time(r.ts_us) or 0,
            )
            for r in event_rows
        ),
        "metrics": sorted(
            (
                by_pk[r.session_pk],
                r.name,
                r.value,
                _json_key(r.tags),
                r.client_id or "",
                _client_time(r.ts_us) or 0,
            )
            for r in metric_rows
        ),
        "state_history": [
            (by_pk[r.session_pk], _json_key(r.patch), r.client_id, _client_time(r.ts_us))
            for r in history_rows
        ],
    }


async def _run(repo: Repository, scenario: Scenario, together: bool) -> dict[str, Any]:
    names = {f"pre{i}": repo.new_session_id() for i in range(len(scenario.pre_statuses))}
    names |= {name: repo.new_session_id() for name in scenario.new_sessions}
    names[GHOST] = repo.new_session_id()

    def real(ops: Sequence[Op]) -> list[Op]:
        return [replace(op, session_id=names[op.session_id]) for op in ops]

    for i, status in enumerate(scenario.pre_statuses):
        await repo.create_session(CreateSession(names[f"pre{i}"], heartbeat_timeout_s=60.0))
        async with repo.engine.begin() as conn:
            await conn.execute(
                update(sessions).where(sessions.c.id == names[f"pre{i}"]).values(status=status)
            )
    if scenario.prelude:
        await repo.write_batch(real(scenario.prelude))

    units = [real(ops) for ops in scenario.units]
    groups = _spy_on_transactions(repo)
    try:
        if together:
            results = await asyncio.gather(*(repo.write_batch(ops) for ops in units))
        else:
            results = [await repo.write_batch(ops) for ops in units]
    finally:
        del repo._writer._transaction  # type: ignore[attr-defined]
    # One transaction for the whole group: a group that failed and fell back to one unit
    # at a time would pass the comparison below while hiding the failure.
    assert groups == ([len(units)] if together else [1] * len(units))
    # A unit naming an unknown session is answered before its group commits, and the
    # sessions it created commit with the group: wait for that commit before reading.
    await repo.write_batch([])
    return {
        "results": [(r.accepted, r.duplicates, r.missing) for r in results],
        **await _snapshot(repo, names),
    }


def _spy_on_transactions(repo: Repository) -> list[int]:
    """Record the size of each group the writer commits (shadowing the method on the instance)."""
    writer = repo._writer
    transaction: Callable[[list[Any]], Awaitable[None]] = writer._transaction
    sizes: list[int] = []

    async def spy(group: list[Any]) -> None:
        sizes.append(len(group))
        await transaction(group)

    writer._transaction = spy  # type: ignore[method-assign]
    return sizes


# The database is the one fresh_repo made for this test; every example's sessions are new.
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
async def test_a_group_writes_what_its_units_write_one_at_a_time(
    fresh_repo: Repository, scenario: Scenario
) -> None:
    note(repr(scenario))  # Hypothesis does not show arguments of async tests on failure
    together = await _run(fresh_repo, scenario, together=True)
    alone = await _run(fresh_repo, scenario, together=False)
    assert together == alone


async def test_a_resent_status_event_moves_the_status_only_once(fresh_repo: Repository) -> None:
    scenario = Scenario(
        [rules.ACTIVE],
        [],
        [],
        [
            [LogEvent("pre0", rules.HUNG_EVENT, client_id="h")],
            [LogEvent("pre0", rules.RECOVERED_EVENT)],
            [LogEvent("pre0", rules.HUNG_EVENT, client_id="h")],
        ],
    )
    together = await _run(fresh_repo, scenario, together=True)
    alone = await _run(fresh_repo, scenario, together=False)
    assert together == alone
