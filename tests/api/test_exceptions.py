"""Exceptions grouped across sessions (issue 12 item 3), on SQLite and PostgreSQL.

Ingest: every path that stores an event (single POST on the fast path and on FastAPI,
``/api/batch``, ``datacat import``) stores the fingerprint ``datacat.fingerprint`` gives
its data, and nothing for other events.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from datacat.fingerprint import fingerprint
from datacat.store.importer import Importer
from datacat.store.repository import Repository
from datacat.store.transferformat import parse_line


def exc_data(
    function: str = "run",
    line: int = 42,
    root: str = "/srv/app",
    kind: str = "ValueError",
    message: str = "bad value 42",
    fatal: bool = False,
) -> dict[str, Any]:
    """An exception event's data as the Python client sends it (frames and lines)."""
    data: dict[str, Any] = {
        "type": kind,
        "message": message,
        "traceback": [
            "Traceback (most recent call last):",
            f'  File "{root}/myapp/worker.py", line {line}, in {function}',
            f"{kind}: {message}",
        ],
        "frames": [
            {"file": f"{root}/myapp/worker.py", "line": line, "function": function, "in_app": True},
            {
                "file": "/usr/lib/python3.12/json/decoder.py",
                "line": 337,
                "function": "decode",
                "in_app": False,
            },
        ],
    }
    if fatal:
        data["fatal"] = True
    return data


async def marks(repo: Repository, session_id: str) -> list[tuple[str, Any, Any]]:
    """(name, fingerprint, fatal) of the session's events, in stored order."""
    async with repo.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT events.name, events.fingerprint, events.fatal FROM events"
                " JOIN sessions ON sessions.pk = events.session_pk"
                " WHERE sessions.id = :id ORDER BY events.id"
            ),
            {"id": session_id},
        )
        return [(name, fp, None if fatal is None else bool(fatal)) for name, fp, fatal in rows]


@pytest.mark.parametrize("path", ["fast", "plain", "batch"])
async def test_every_ingest_path_fingerprints_exception_events(
    client: httpx.AsyncClient, plain: httpx.AsyncClient, repo: Repository, path: str
) -> None:
    http = plain if path == "plain" else client
    session_id = (await http.post("/api/sessions")).json()["session_id"]
    bodies: list[dict[str, Any]] = [
        {"name": "exception", "data": exc_data()},
        {"name": "exception", "data": exc_data(line=50, fatal=True)},
        {"name": "exception", "data": {"message": "no type"}},
        {"name": "step", "data": exc_data()},
        {"name": "exception", "data": exc_data(), "level": "error", "message": "m"},
    ]
    if path == "batch":
        items = [{"op": "event", "session_id": session_id, **body} for body in bodies]
        response = await http.post("/api/batch", json={"items": items})
        assert response.status_code == 200, response.text
    else:
        for body in bodies:
            response = await http.post(f"/api/sessions/{session_id}/events", json=body)
            assert response.status_code == 200, response.text
    fp = fingerprint(exc_data())
    assert fp is not None
    assert await marks(repo, session_id) == [
        ("exception", fp, False),
        ("exception", fp, True),  # a shifted line is the same group
        ("exception", None, None),
        ("step", None, None),
        ("exception", fp, False),
    ]


async def test_imported_exception_events_are_fingerprinted(
    database_url: str, repo: Repository
) -> None:
    session_id = str(uuid.uuid4())
    line = {
        "id": session_id,
        "created_us": 1_700_000_000_000_000,
        "updated_us": 1_700_000_000_000_000,
        "ended_us": None,
        "last_seen_us": 1_700_000_000_000_000,
        "active": True,
        "status": "active",
        "state": {},
        "product": "p",
        "version": "1",
        "host": "h",
        "metadata": None,
        "heartbeat_timeout_s": None,
        "state_history": [],
        "events": [
            {"ts_us": 1, "name": "exception", "data": exc_data(fatal=True), "client_id": None},
            {"ts_us": 2, "name": "step", "data": None, "client_id": "c"},
            {"ts_us": 3, "name": "exception", "data": "junk", "client_id": None},
        ],
        "metrics": [],
    }
    importer = Importer(database_url)
    try:
        await importer.add(parse_line(orjson.dumps(line)), 1)
        await importer.flush()
    finally:
        await importer.close()
    assert await marks(repo, session_id) == [
        ("exception", fingerprint(exc_data()), True),
        ("step", None, None),
        ("exception", None, None),
    ]


# --- Groups and a group's occurrences ----------------------------------------------------
#
# A small world seeded through the API (single POSTs and one batch), with explicit
# timestamps in a window of its own and function names unique to this run, so other
# tests' exceptions never mix in. The expected answers come from ``MODEL``: which seeded
# occurrence belongs to which group is written down by hand, and each group's fingerprint
# is the contract's sha256 restated (``contract_fp``), not ``datacat.fingerprint``.

TOKEN = uuid.uuid4().hex[:8]
T0 = 1_950_000_000_000_000 + (uuid.uuid4().int % 1000) * 3_600_000_000  # a 2031 hour
SESSIONS = {
    # key: (product, version, host)
    "s1": (f"probe-{TOKEN}", "1.0", "h1"),
    "s2": (f"probe-{TOKEN}", "1.1", "h2"),
    "s3": (f"probe-{TOKEN}", "1.1", "h3"),
    "s4": (f"other-{TOKEN}", "2.0", "h4"),
}


def contract_fp(kind: str, *keys: str) -> str:
    import hashlib

    return hashlib.sha256("\n".join([kind, *keys]).encode()).hexdigest()[:32]


def seed_style(root: str, line: int, message: str) -> dict[str, Any]:
    """The seed's exception data: type, message, traceback lines, no frames."""
    return {
        "type": "RuntimeError",
        "message": message,
        "traceback": [
            "Traceback (most recent call last):",
            f'  File "{root}/myapp/main.py", line {line}, in main_{TOKEN}',
            "    go()",
            f'  File "/usr/lib/python3.11/threading.py", line {line + 900}, in run',
            f"RuntimeError: {message}",
        ],
    }


RUN = f"run_{TOKEN}"
GROUP_KEYS = {
    "A": contract_fp("ValueError", f"myapp/worker.py:{RUN}"),
    "B": contract_fp("KeyError", f"myapp/worker.py:stop_{TOKEN}"),
    "C": contract_fp("RuntimeError", f"myapp/main.py:main_{TOKEN}"),
    "D": contract_fp("LookupError", "id <n> missing in <str>"),
}
# (group, session, via, seconds after T0, data)
SEEDED: list[tuple[str, str, str, int, dict[str, Any]]] = [
    ("A", "s1", "post", 10, exc_data(function=RUN, line=42, message="bad 1")),
    ("A", "s2", "post", 20, exc_data(function=RUN, line=50, root="/home/ci", message="bad 2")),
    ("A", "s3", "batch", 30, exc_data(function=RUN, line=51, message="bad 3", fatal=True)),
    ("B", "s2", "post", 25, exc_data(function=f"stop_{TOKEN}", kind="KeyError", message="k")),
    ("C", "s1", "post", 5, seed_style("/srv/app", 3, "boom")),
    ("C", "s4", "batch", 40, seed_style("C:\\app", 9, "boom again")),
    ("D", "s4", "post", 15, {"type": "LookupError", "message": "id 42 missing in 'users'"}),
    ("D", "s3", "batch", 35, {"type": "LookupError", "message": 'id 7 missing in "orders"'}),
    ("A", "s1", "post", 45, exc_data(function=RUN, line=43, message="bad 4")),
    (
        "D",
        "s4",
        "post",
        50,
        {"type": "LookupError", "message": "id 9 missing in 'x'", "fatal": True},
    ),
]


def iso(us: int) -> str:
    from datacat.timefmt import to_rfc3339

    return to_rfc3339(us)


@pytest.fixture(scope="session")
async def world(client: httpx.AsyncClient) -> dict[str, str]:
    """The seeded sessions' ids by key (once per backend)."""
    ids = {}
    for key, (product, version, host) in SESSIONS.items():
        response = await client.post(
            "/api/sessions", json={"product": product, "version": version, "host": host}
        )
        ids[key] = response.json()["session_id"]
    batch = []
    for _, session, via, seconds, data in SEEDED:
        body = {"name": "exception", "data": data, "timestamp": iso(T0 + seconds * 1_000_000)}
        if via == "batch":
            batch.append({"op": "event", "session_id": ids[session], **body})
        else:
            response = await client.post(f"/api/sessions/{ids[session]}/events", json=body)
            assert response.status_code == 200, response.text
    response = await client.post("/api/batch", json={"items": batch})
    assert response.status_code == 200, response.text
    return ids


def model(
    keep: Any = lambda group, session, seconds, data: True, sort: str = "recent"
) -> list[dict[str, Any]]:
    """The groups expected from the seeded rows ``keep`` lets through."""
    groups: dict[str, dict[str, Any]] = {}
    for group, session, _, seconds, data in SEEDED:
        if not keep(group, session, seconds, data):
            continue
        product, version, _ = SESSIONS[session]
        g = groups.setdefault(
            group, {"rows": [], "sessions": set(), "versions": set(), "products": set()}
        )
        g["rows"].append((seconds, data))
        g["sessions"].add(session)
        g["versions"].add(version)
        g["products"].add(product)
    out = []
    for group, g in groups.items():
        latest = max(g["rows"], key=lambda row: row[0])[1]
        out.append(
            {
                "fingerprint": GROUP_KEYS[group],
                "type": latest["type"],
                "message": latest["message"],
                "occurrences": len(g["rows"]),
                "sessions": len(g["sessions"]),
                "fatal": sum(1 for _, data in g["rows"] if data.get("fatal") is True),
                "first_seen": iso(T0 + min(s for s, _ in g["rows"]) * 1_000_000),
                "last_seen": iso(T0 + max(s for s, _ in g["rows"]) * 1_000_000),
                "versions": sorted(g["versions"]),
                "products": sorted(g["products"]),
            }
        )
    if sort == "recent":
        out.sort(key=lambda g: (g["last_seen"], g["fingerprint"]), reverse=True)
    else:
        out.sort(key=lambda g: (g["occurrences"], g["fingerprint"]), reverse=True)
    return out


WINDOW = {"since": iso(T0), "until": iso(T0 + 3_600_000_000)}


async def groups(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/exceptions", params={**WINDOW, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


@pytest.mark.parametrize("sort", ["recent", "frequent"])
async def test_groups_across_sessions_hosts_line_shifts_and_ingest_paths(
    client: httpx.AsyncClient, world: dict[str, str], sort: str
) -> None:
    got = await groups(client, sort=sort)
    assert got == model(sort=sort)
    # A: three line numbers, two install roots, single POSTs and a batch item: one group.
    # C: seed-style (traceback lines only), posted and batched, other host path: one group.
    assert {g["fingerprint"] for g in got} == set(GROUP_KEYS.values())


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"product": f"probe-{TOKEN}"}, lambda g, s, t, d: SESSIONS[s][0] == f"probe-{TOKEN}"),
        ({"version": "1.1"}, lambda g, s, t, d: SESSIONS[s][1] == "1.1"),
        (
            {"product": f"probe-{TOKEN}", "version": "1.0"},
            lambda g, s, t, d: SESSIONS[s][:2] == (f"probe-{TOKEN}", "1.0"),
        ),
        ({"fatal": "true"}, lambda g, s, t, d: d.get("fatal") is True),
        ({"fatal": "false"}, lambda g, s, t, d: d.get("fatal") is not True),
        (
            {"since": iso(T0 + 20_000_000), "until": iso(T0 + 40_000_000)},
            lambda g, s, t, d: 20 <= t < 40,
        ),
    ],
    ids=["product", "version", "product+version", "fatal", "not-fatal", "time"],
)
async def test_group_filters(
    client: httpx.AsyncClient, world: dict[str, str], params: dict[str, str], keep: Any
) -> None:
    for sort in ("recent", "frequent"):
        assert await groups(client, sort=sort, **params) == model(keep, sort), params


@pytest.mark.parametrize("sort", ["recent", "frequent"])
async def test_group_pages_have_no_duplicates_or_gaps(
    client: httpx.AsyncClient, world: dict[str, str], sort: str
) -> None:
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(10):
        params = {**WINDOW, "sort": sort, "limit": 1}
        if cursor:
            params["cursor"] = cursor
        response = await client.get("/api/exceptions", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) == 1
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == model(sort=sort)


async def test_a_group_with_its_traceback_and_occurrences(
    client: httpx.AsyncClient, world: dict[str, str]
) -> None:
    fp = GROUP_KEYS["A"]
    rows = sorted(
        [(t, s, d) for g, s, _, t, d in SEEDED if g == "A"], key=lambda row: row[0], reverse=True
    )
    occurrences: list[dict[str, Any]] = []
    cursor = None
    detail: dict[str, Any] = {}
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(f"/api/exceptions/{fp}", params=params)
        assert response.status_code == 200, response.text
        detail = response.json()
        assert len(detail["items"]) <= 2
        occurrences += detail["items"]
        cursor = detail["next_cursor"]
        if cursor is None:
            break
    summary = {key: detail[key] for key in model()[0]}
    assert summary == next(g for g in model() if g["fingerprint"] == fp)
    latest = rows[0][2]
    assert detail["traceback"] == latest["traceback"]
    assert detail["frames"] == [{**frame, "module": None} for frame in latest["frames"]]
    assert [f["in_app"] for f in detail["frames"]] == [True, False]
    assert [
        (
            o["timestamp"],
            o["session_id"],
            o["product"],
            o["version"],
            o["host"],
            o["message"],
            o["fatal"],
        )
        for o in occurrences
    ] == [
        (
            iso(T0 + t * 1_000_000),
            world[s],
            *SESSIONS[s],
            d["message"],
            d.get("fatal") is True,
        )
        for t, s, d in rows
    ]
    assert len({o["id"] for o in occurrences}) == len(rows)


async def test_a_seed_style_group_shows_its_parsed_frames(
    client: httpx.AsyncClient, world: dict[str, str]
) -> None:
    response = await client.get(f"/api/exceptions/{GROUP_KEYS['C']}")
    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["traceback"] == seed_style("C:\\app", 9, "boom again")["traceback"]
    assert [(f["file"], f["line"], f["function"], f["in_app"]) for f in detail["frames"]] == [
        ("C:\\app/myapp/main.py", 9, f"main_{TOKEN}", True),
        ("/usr/lib/python3.11/threading.py", 909, "run", False),
    ]
    assert [o["session_id"] for o in detail["items"]] == [world["s4"], world["s1"]]


async def test_unknown_fingerprint_is_404_and_bad_parameters_422(
    client: httpx.AsyncClient, world: dict[str, str]
) -> None:
    response = await client.get(f"/api/exceptions/{'0' * 32}")
    assert response.status_code == 404
    assert response.json() == {"detail": f"no exception with fingerprint {'0' * 32}"}
    for path, params in [
        ("/api/exceptions/XYZ", {}),
        (f"/api/exceptions/{'A' * 32}", {}),
        (f"/api/exceptions/{GROUP_KEYS['A']}", {"cursor": "abc"}),
        (f"/api/exceptions/{GROUP_KEYS['A']}", {"limit": 0}),
        ("/api/exceptions", {"sort": "oldest"}),
        ("/api/exceptions", {"fatal": "maybe"}),
        ("/api/exceptions", {"limit": 501}),
        ("/api/exceptions", {"since": "yesterday"}),
        ("/api/exceptions", {"cursor": "12.zz"}),
        ("/api/exceptions", {"product": "a\x00b"}),
    ]:
        response = await client.get(path, params=params)
        assert response.status_code == 422, (path, params, response.text)
        assert "detail" in response.json()


def test_the_exception_reads_need_a_read_key() -> None:
    from datacat import scopes

    for path in ("/api/exceptions", f"/api/exceptions/{'0' * 32}"):
        assert scopes.required("GET", path) == scopes.READ
        assert not scopes.allows(scopes.INGEST, scopes.required("GET", path) or "")


async def test_backfill_marks_exception_events_stored_without_a_fingerprint(
    fresh_repo: Repository,
) -> None:
    from datacat.store.exceptions import GroupQuery, backfill
    from datacat.store.ops import CreateSession, LogEvent

    await fresh_repo.write(CreateSession("old-session", product="p", version="1"))
    old = [
        LogEvent("old-session", "exception", exc_data(line=1)),
        LogEvent("old-session", "exception", exc_data(line=2, fatal=True)),
        LogEvent("old-session", "exception", {"message": "no type"}),
        LogEvent("old-session", "step", exc_data()),
    ]
    await fresh_repo.write_batch(old)  # ops built by hand: no fingerprint, as before 0005
    assert (await fresh_repo.exceptions.groups(GroupQuery())).items == []
    async with fresh_repo.engine.begin() as conn:
        assert await conn.run_sync(backfill, 1) == 2  # batch of 1: the walk pages
    async with fresh_repo.engine.begin() as conn:
        assert await conn.run_sync(backfill) == 0  # nothing left
    fp = fingerprint(exc_data())
    assert await marks(fresh_repo, "old-session") == [
        ("exception", fp, False),
        ("exception", fp, True),
        ("exception", None, None),
        ("step", None, None),
    ]
    [group] = (await fresh_repo.exceptions.groups(GroupQuery())).items
    assert (group.fingerprint, group.occurrences, group.fatal) == (fp, 2, 1)
