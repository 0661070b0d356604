"""Killed with SIGKILL under load, restarted on the same data: nothing acknowledged is lost.

The group-commit writer answers a request only after the transaction holding it committed
(``store/writer.py``), so whatever the server answered 2xx must outlive the process.
Several connections send single writes and batches at full speed, the server is killed
mid-stream with requests in flight, and a new process on the same SQLite file or
PostgreSQL database must hold every acknowledged write exactly once. A write that never
got its answer may or may not be there, but never twice, and a batch is there whole or
not at all. No write carries a client id, so the server cannot hide a double apply by
deduplicating it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from support import datacat_server, fresh_database, stored_metrics

WRITERS = 6
KILL_AFTER = 3000
"""Acknowledged requests (of every kind together) before the kill."""
ENV = {"DATACAT_RATE_LIMIT_PER_S": "0"}
"""Full speed from one address must not be throttled, whatever the default becomes."""

ACKED, UNKNOWN, REFUSED = "acked", "unknown", "refused"
"""A request's outcome: a 2xx; sent but unanswered (the connection died); never sent."""

Item = tuple[str, str]
"""Where one stored item belongs and who wrote it: (session id, "writer.seq.index")."""


@dataclass(frozen=True)
class Write:
    kind: str
    items: tuple[Item, ...]
    outcome: str


def _opening(writer: int) -> dict[str, Any]:
    return {"product": "durability", "version": f"w{writer}", "metadata": {"writer": writer}}


def _key(writer: int, seq: int, index: int) -> str:
    return f"{writer}.{seq}.{index}"


def _metric_value(writer: int, seq: int, index: int) -> float:
    return float(writer * 10_000_000 + seq * 10 + index)


def _metric_key(value: float) -> str:
    whole = int(value)
    writer, rest = divmod(whole, 10_000_000)
    return _key(writer, *divmod(rest, 10))


def _patch(writer: int, seq: int, index: int) -> dict[str, Any]:
    # Grouped under the writer and a hundred-key chunk: no object in the state grows big.
    return {f"w{writer}": {f"c{seq // 100}": {f"s{seq}_{index}": seq}}}


def _leaves(document: dict[str, Any]) -> set[str]:
    """The keys written by ``_patch`` found in a state document or patch, as item keys."""
    found = set()
    for top, chunks in document.items():
        for leaves in chunks.values():
            for leaf in leaves:
                seq, index = leaf[1:].split("_")
                found.add(_key(int(top[1:]), int(seq), int(index)))
    return found


def _single(writer: int, seq: int, session_id: str) -> tuple[str, str, dict[str, Any], Item]:
    """The single write number ``seq`` of a writer: an event, a metric or a state patch."""
    item = (session_id, _key(writer, seq, 0))
    kind = ("event", "metric", "state")[seq % 3]
    if kind == "event":
        body: dict[str, Any] = {"name": f"e {item[1]}", "data": {"seq": seq}}
    elif kind == "metric":
        body = {"name": "m", "value": _metric_value(writer, seq, 0)}
    else:
        body = _patch(writer, seq, 0)
    path = {"event": "events", "metric": "metrics", "state": "state"}[kind]
    return kind, f"/api/sessions/{session_id}/{path}", body, item


def _batch(writer: int, seq: int, own: str, shared: str) -> tuple[dict[str, Any], list[Item]]:
    """Six items over two sessions, one of them shared by every writer."""
    ops: list[dict[str, Any]] = []
    items: list[Item] = []
    for index, session_id in enumerate((own, own, own, shared, shared, shared)):
        key = _key(writer, seq, index)
        kind = ("event", "metric", "state")[index % 3]
        if kind == "event":
            ops.append({"op": kind, "session_id": session_id, "name": f"e {key}"})
        elif kind == "metric":
            value = _metric_value(writer, seq, index)
            ops.append({"op": kind, "session_id": session_id, "name": "m", "value": value})
        else:
            ops.append({"op": kind, "session_id": session_id, "state": _patch(writer, seq, index)})
        items.append((session_id, key))
    return {"items": ops}, items


def _write(url: str, writer: int, own: str, shared: str, log: list[Write]) -> None:
    """Send writes back to back until the connection fails; every fourth one is a batch."""
    with httpx.Client(base_url=url, timeout=30) as http:
        seq = 0
        while True:
            if seq % 4 == 3:
                kind, path = "batch", "/api/batch"
                body, items = _batch(writer, seq, own, shared)
            else:
                kind, path, body, item = _single(writer, seq, own)
                items = [item]
            try:
                response = http.post(path, json=body)
            except httpx.ConnectError:
                log.append(Write(kind, tuple(items), REFUSED))
                return
            except httpx.TransportError:
                log.append(Write(kind, tuple(items), UNKNOWN))
                return
            if not response.is_success:
                log.append(Write(kind, tuple(items), f"{response.status_code} {response.text}"))
                return
            log.append(Write(kind, tuple(items), ACKED))
            seq += 1


def _stored(url: str, session_ids: list[str]) -> Counter[Item]:
    """Every item the server holds, counted: events by name, metrics by value, state
    patches by their history entries (and the merged state must agree with the history)."""
    found: Counter[Item] = Counter()
    with httpx.Client(base_url=url, timeout=30) as http:
        for session_id in session_ids:
            base = f"/api/sessions/{session_id}"
            events = _paged(http, f"{base}/events")
            found.update((session_id, event["name"].split(" ", 1)[1]) for event in events)
            metrics = stored_metrics(url, session_id)
            found.update((session_id, _metric_key(metric["value"])) for metric in metrics)
            history = _paged(http, f"{base}/state/history")
            patched: set[str] = set()
            for entry in history:
                keys = _leaves(entry["patch"])
                patched |= keys
                found.update((session_id, key) for key in keys)
            session = http.get(base).json()
            assert _leaves(session["state"]) == patched, "state and its history disagree"
            assert len(session["events"]) == len(events)
            assert len(session["metrics"]) == len(metrics)
    return found


def _paged(http: httpx.Client, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 10_000}
    while True:
        page = http.get(path, params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        items.extend(body["items"])
        if not body["next_cursor"]:
            return items
        params["cursor"] = body["next_cursor"]


def _run_until_killed(
    url: str, sessions: list[str], shared: str, kill: Callable[[], None]
) -> list[Write]:
    """Drive the writers, call ``kill`` once enough writes are acknowledged, and return
    every writer's log once all of them have stopped."""
    logs: list[list[Write]] = [[] for _ in range(WRITERS)]
    threads = [
        threading.Thread(target=_write, args=(url, w, sessions[w], shared, logs[w]), daemon=True)
        for w in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while sum(len(log) for log in logs) < KILL_AFTER:
        assert all(t.is_alive() for t in threads), [log[-1] for log in logs if log]
        assert time.monotonic() < deadline, "the writers did not get far enough in 60 s"
        time.sleep(0.01)
    kill()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a writer is still sending after the kill"
    return [write for log in logs for write in log]


def test_acknowledged_writes_survive_kill_9_exactly_once(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path, "durability") as database_url:
        server = datacat_server(database_url, env=ENV, log_path=tmp_path / "server.log")
        server.start()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                sessions = [
                    http.post("/api/sessions", json=_opening(w)).json()["session_id"]
                    for w in range(WRITERS + 1)
                ]
            shared = sessions[-1]
            # SIGKILL to the server's process group while the writers are mid-request.
            writes = _run_until_killed(server.url, sessions, shared, server.stop)
            server.start()
            stored = _stored(server.url, sessions)
            _check(writes, stored)
            with httpx.Client(base_url=server.url, timeout=30) as http:
                for w, session_id in enumerate(sessions):
                    session = http.get(f"/api/sessions/{session_id}").json()
                    opened = {k: session[k] for k in _opening(w)}
                    assert opened == _opening(w)
            _accepts_writes_again(server.url, sessions[0], shared)
        finally:
            server.stop()


def _check(writes: list[Write], stored: Counter[Item]) -> None:
    outcomes = Counter(write.outcome for write in writes)
    assert set(outcomes) <= {ACKED, UNKNOWN, REFUSED}, [
        w for w in writes if w.outcome not in (ACKED, UNKNOWN, REFUSED)
    ][:3]
    acked_kinds = Counter(write.kind for write in writes if write.outcome == ACKED)
    unanswered = [write for write in writes if write.outcome == UNKNOWN]
    landed = sum(all(stored[item] for item in write.items) for write in unanswered)
    print(
        f"acknowledged {dict(acked_kinds)}; {len(unanswered)} unanswered, {landed} of them "
        f"stored; {len(stored)} items stored"
    )
    assert all(acked_kinds[kind] >= 50 for kind in ("event", "metric", "state", "batch")), (
        acked_kinds
    )
    # The kill came mid-stream: some requests were sent and never answered.
    assert outcomes[UNKNOWN] >= 1, outcomes

    sent = {item for write in writes for item in write.items}
    assert not set(stored) - sent, f"stored but never sent: {sorted(set(stored) - sent)[:5]}"
    twice = {item: count for item, count in stored.items() if count > 1}
    assert not twice, f"stored more than once: {sorted(twice.items())[:5]}"
    lost = [w for w in writes if w.outcome == ACKED and any(stored[i] != 1 for i in w.items)]
    assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {lost[:3]}"
    refused = [w for w in writes if w.outcome == REFUSED and any(stored[i] for i in w.items)]
    assert not refused, f"stored without ever reaching the server: {refused[:3]}"
    partial = [w for w in writes if w.kind == "batch" and len({stored[i] for i in w.items}) != 1]
    assert not partial, f"batches stored in part: {partial[:3]}"


def _accepts_writes_again(url: str, own: str, shared: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        event = http.post(f"/api/sessions/{own}/events", json={"name": "after restart"})
        assert event.status_code == 200, event.text
        body, items = _batch(WRITERS, 0, own, shared)
        batch = http.post("/api/batch", json=body)
        assert batch.status_code == 200, batch.text
        assert batch.json()["accepted"] == len(items)
        names = [e["name"] for e in _paged(http, f"/api/sessions/{own}/events")]
        assert names[-2:] == ["after restart", f"e {items[0][1]}"]
