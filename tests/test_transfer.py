"""``datacat export`` and ``datacat import`` as real processes, between real databases.

A database of each backend is filled through a real server with every kind of thing a
session holds (nested state with its history, unicode, events and metrics with and
without data, tags and client ids, times before 1970, every status), and its documents
are read back through the API. Moved to the *other* backend, the export comes out byte
for byte the same, the API serves the same documents, and the moved client ids still
make a retried write a duplicate.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datacat.cli import main
from datacat.store import exporter, longline, transferformat
from datacat.store.database import create_engine
from datacat.store.transferformat import LineError, parse_line
from support import BACKENDS, eventually, serve, throwaway_database

CLOSED = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@contextmanager
def fresh_database(backend: str, where: Path) -> Iterator[str]:
    """An empty database of ``backend``: a new SQLite file, or a throwaway PostgreSQL one."""
    if backend == "sqlite":
        where.mkdir(parents=True, exist_ok=True)
        yield sqlite_url(where / f"db-{len(list(where.iterdir()))}.db")
    else:
        with throwaway_database("datacat_transfer") as url:
            yield url


def other(backend: str) -> str:
    return BACKENDS[1 - BACKENDS.index(backend)]


def datacat(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "datacat.cli", *args],
        input=stdin,
        capture_output=True,
        timeout=180,
        check=False,
    )


def export(url: str, *args: str) -> bytes:
    done = datacat("export", "--database-url", url, *args)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def load(url: str, path: Path) -> str:
    done = datacat("import", str(path), "--database-url", url)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


@dataclass
class Ran:
    status: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """``datacat`` run in this process (the code the subprocess runs, without an
    interpreter start per call); ``--database-url`` sets the process's DATACAT_DATABASE_URL,
    which the monkeypatch puts back afterwards."""
    monkeypatch.delenv("DATACAT_DATABASE_URL", raising=False)

    def run(*args: str) -> Ran:
        capsys.readouterr()
        try:
            status = main(list(args))
        except SystemExit as exit:
            status = int(exit.code or 0)
        captured = capsys.readouterr()
        return Ran(status, captured.out, captured.err)

    return run


def line(session_id: str, seen_us: int = CLOSED, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": session_id,
        "created_us": seen_us - 10,
        "updated_us": seen_us,
        "ended_us": None,
        "last_seen_us": seen_us,
        "active": True,
        "status": "active",
        "state": {},
        "product": None,
        "version": None,
        "host": None,
        "metadata": None,
        "heartbeat_timeout_s": None,
        "state_history": [],
        "events": [{"ts_us": seen_us, "name": "e", "data": None, "client_id": None}],
        "metrics": [],
    }
    body.update(fields)
    return body


def jsonl(*lines: dict[str, Any] | bytes) -> bytes:
    return b"".join(
        (item if isinstance(item, bytes) else orjson.dumps(item)) + b"\n" for item in lines
    )


def ids_in(url: str) -> list[str]:
    return [orjson.loads(text)["id"] for text in asyncio.run(export_in_process(url)).splitlines()]


# -- the seeded source ------------------------------------------------------------------


@dataclass
class Source:
    backend: str
    url: str
    ids: dict[str, str]
    """Session id by role (ended, crashed, hung, abandoned, busy, sparse, bare)."""
    documents: dict[str, Any]
    """``GET /api/sessions/{id}`` of every session, as served before the move."""
    keyed: list[dict[str, Any]]
    """Every batch item sent with a client id: sent again after the move, each is a
    duplicate."""
    exported: bytes


LEVELLED = {"level": "error", "message": "disk ✓ full", "category": "io", "labels": ["b", "a"]}
TIMED = {"kind": "timer", "unit": "ms"}


def _seed(base: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    http = httpx.Client(base_url=base, timeout=30)

    def create(**body: Any) -> str:
        answer = http.post("/api/sessions", json=body)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["session_id"])

    def batch(items: list[dict[str, Any]]) -> None:
        answer = http.post("/api/batch", json={"items": items})
        assert answer.status_code == 200, answer.text

    ids = {
        "ended": create(
            product="datacat ✓",
            version="版本 1.0",
            host="hôst-1",
            metadata={"zeta": 1, "alpha": {"ü": [1, 2.5, None, True]}, "emoji": "🐈"},
            heartbeat_timeout=3600,
        ),
        "crashed": create(product="p", metadata={}),
        "hung": create(),
        "abandoned": create(host="h"),
        "busy": create(heartbeat_timeout=3600.5),
        "sparse": create(),
        "bare": create(),
    }
    ended, crashed = ids["ended"], ids["crashed"]
    keyed = [
        {"op": "state", "session_id": ended, "state": {"w": {"open": True}}, "id": "s1"},
        {
            "op": "event",
            "session_id": ended,
            "name": "clicked",
            "data": {"b": [1, {"y": 2, "x": 1}], "a": "ñ"},
            "timestamp": "1969-12-31T23:59:59.999999Z",
            "id": "e-1",
        },
        {
            "op": "metric",
            "session_id": ended,
            "name": "loss",
            "value": -0.125,
            "tags": {"z": "1", "a": "2"},
            "timestamp": "2026-01-01T00:00:00.000001Z",
            "id": "m-1",
        },
        {"op": "metric", "session_id": crashed, "name": "cpu", "value": 5e-324, "id": "m-1"},
    ]
    batch(
        [
            {
                "op": "state",
                "session_id": ended,
                "state": {"window": {"size": [1, 2], "open": False}, "user": "ñ", "n": None},
            },
            *keyed,
            {"op": "state", "session_id": ended, "state": {"window": {"open": True}}},
            {"op": "event", "session_id": ended, "name": "no data"},
            {"op": "event", "session_id": ended, "name": "string", "data": "текст"},
            {"op": "event", "session_id": ended, "name": "number", "data": 3},
            # (Not 1e300: PostgreSQL's jsonb keeps it as numeric, and the API on PostgreSQL
            # serves it as a 301-digit integer, whichever way it was stored.)
            {"op": "event", "session_id": ended, "name": "list", "data": [None, False, 2.5e-08]},
            {"op": "metric", "session_id": ended, "name": "loss", "value": 1e300},
            {"op": "metric", "session_id": ended, "name": "gpu", "value": 7, "tags": ["a", "b"]},
            # Issue 12's fields (a session without them exports as it did before).
            {"op": "event", "session_id": ended, "name": "levelled", **LEVELLED},
            {"op": "metric", "session_id": ended, "name": "frame", "value": 2, **TIMED},
            {"op": "end", "session_id": ended},
            {"op": "event", "session_id": crashed, "name": "exception", "data": {"fatal": True}},
            {"op": "event", "session_id": ids["hung"], "name": "application_appears_hung"},
            {"op": "heartbeat", "session_id": ids["abandoned"], "timeout": 0.001},
        ]
    )
    # Sessions whose metrics interleave (busy and sparse), and one whose two metrics lie
    # far apart (crashed): see ``test_every_read_strategy_writes_the_same_bytes``.
    busy, sparse = ids["busy"], ids["sparse"]
    batch(
        [
            {"op": "metric", "session_id": sid, "name": f"m{i % 3}", "value": i / 7, "tags": None}
            for i in range(60)
            for sid in ((busy, sparse) if i % 2 else (busy,))
        ]
        + [
            {"op": "event", "session_id": busy, "name": "tick", "data": {"i": i}, "id": f"t{i}"}
            for i in range(40)
        ]
        + [{"op": "state", "session_id": busy, "state": {"step": i}} for i in range(12)]
        + [{"op": "metric", "session_id": crashed, "name": "cpu", "value": 1}]
    )
    return ids, keyed


def _filled(backend: str, url: str) -> Source:
    with serve(url, env={"DATACAT_SWEEP_INTERVAL_S": "0.1"}) as base:
        ids, keyed = _seed(base)

        def status_of(role: str) -> str:
            return str(httpx.get(f"{base}/api/sessions/{ids[role]}").json()["status"])

        eventually(lambda: status_of("abandoned"), "abandoned")
        assert {role: status_of(role) for role in ids} == {
            "ended": "ended",
            "crashed": "crashed",
            "hung": "hung",
            "abandoned": "abandoned",
            "busy": "active",
            "sparse": "active",
            "bare": "active",
        }
        documents = {sid: httpx.get(f"{base}/api/sessions/{sid}").json() for sid in ids.values()}
    return Source(backend, url, ids, documents, keyed, export(url))


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Source]]:
    """Each backend's source, filled the first time a test asks for it (in whatever order
    the tests run) and dropped when the module is done."""
    filled: dict[str, Source] = {}
    with ExitStack() as stack:

        def get(backend: str) -> Source:
            if backend not in filled:
                where = tmp_path_factory.mktemp(f"source-{backend}")
                url = stack.enter_context(fresh_database(backend, where))
                filled[backend] = _filled(backend, url)
            return filled[backend]

        yield get


@pytest.fixture
def source(backend: str, sources: Callable[[str], Source]) -> Source:
    return sources(backend)


# -- the round trip ---------------------------------------------------------------------


def test_the_export_holds_every_field_row_and_client_id(source: Source) -> None:
    lines = [orjson.loads(line) for line in source.exported.splitlines()]
    assert [line["id"] for line in lines] == list(source.ids.values())
    by_id = {line["id"]: line for line in lines}
    ended = by_id[source.ids["ended"]]
    document = source.documents[source.ids["ended"]]
    assert ended["metadata"] == {"alpha": {"ü": [1, 2.5, None, True]}, "emoji": "🐈", "zeta": 1}
    assert (ended["product"], ended["version"], ended["host"]) == (
        "datacat ✓",
        "版本 1.0",
        "hôst-1",
    )
    assert ended["state"] == document["state"]
    assert ended["status"] == "ended" and ended["active"] is False
    assert ended["heartbeat_timeout_s"] == 3600.0
    assert [row["client_id"] for row in ended["state_history"]] == [None, "s1", None]
    # (The writer stores a group's rows without client ids before those with them.)
    events = {event["name"]: event for event in ended["events"]}
    assert events["clicked"] == {
        "client_id": "e-1",
        "data": {"a": "ñ", "b": [1, {"x": 1, "y": 2}]},
        "name": "clicked",
        "ts_us": -1,
    }
    assert events["levelled"] == {
        "client_id": None,
        "data": None,
        "name": "levelled",
        "ts_us": events["levelled"]["ts_us"],
        **LEVELLED,
    }
    assert "level" not in events["no data"], "unset issue-12 fields are not written"
    assert [events[name]["data"] for name in ("no data", "string", "number", "list")] == [
        None,
        "текст",
        3,
        [None, False, 2.5e-08],
    ]
    assert sorted(
        ((m["name"], m["value"], m["tags"], m["client_id"]) for m in ended["metrics"]), key=str
    ) == sorted(
        [
            ("loss", -0.125, {"a": "2", "z": "1"}, "m-1"),
            ("loss", 1e300, None, None),
            ("gpu", 7.0, ["a", "b"], None),
            ("frame", 2.0, None, None),
        ],
        key=str,
    )
    frame = next(m for m in ended["metrics"] if m["name"] == "frame")
    assert (frame["kind"], frame["unit"]) == ("timer", "ms")
    assert "kind" not in next(m for m in ended["metrics"] if m["name"] == "gpu")
    assert [m["ts_us"] for m in ended["metrics"] if m["client_id"] == "m-1"] == [CLOSED + 1]
    assert by_id[source.ids["crashed"]]["metrics"][0]["value"] == 5e-324
    busy = by_id[source.ids["busy"]]
    assert [m["value"] for m in busy["metrics"]] == [i / 7 for i in range(60)]
    assert [e["client_id"] for e in busy["events"]] == [f"t{i}" for i in range(40)]
    # Canonical: user JSON with sorted keys, so both backends write the same bytes.
    assert b'{"a":"\xc3\xb1","b":[1,{"x":1,"y":2}]}' in source.exported


def test_moved_to_the_other_backend_it_exports_the_same_bytes_and_stores_once(
    source: Source, tmp_path: Path, cli: Any
) -> None:
    (tmp_path / "all.jsonl").write_bytes(source.exported)
    with fresh_database(other(source.backend), tmp_path / "target") as target:
        summary = load(target, tmp_path / "all.jsonl")
        assert summary.startswith("imported 7 sessions (15 state patches, 48 events, 96 metrics)")
        assert export(target) == source.exported

        again = cli("import", str(tmp_path / "all.jsonl"), "--database-url", target)
        assert again.status == 0
        assert (
            again.out.startswith("imported 0 sessions")
            and "skipped 7 sessions already there" in again.out
        )
        assert asyncio.run(row_counts(target)) == {
            "sessions": 7,
            "state_history": 15,
            "events": 48,
            "metrics": 96,
            "metric_names": 7,
        }
        assert asyncio.run(export_in_process(target)) == source.exported


def test_moved_the_api_serves_the_same_documents_and_knows_the_client_ids(
    source: Source, tmp_path: Path
) -> None:
    (tmp_path / "all.jsonl").write_bytes(source.exported)
    with fresh_database(other(source.backend), tmp_path / "target") as target:
        load(target, tmp_path / "all.jsonl")
        with serve(target) as base:
            for session_id, before in source.documents.items():
                assert httpx.get(f"{base}/api/sessions/{session_id}").json() == before
            # A client retrying a write it made before the move is told it is a duplicate.
            answer = httpx.post(f"{base}/api/batch", json={"items": source.keyed}).json()
            assert (answer["accepted"], answer["duplicates"]) == (0, len(source.keyed))


def test_every_read_strategy_writes_the_same_bytes(
    source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tiny chunks and pages make every session "large": rows are read alone, chunk by
    chunk, and the interleaved metrics once along the primary key and once through the
    (session, name, …) index. Each way must write what the one-query way wrote."""
    for chunk, page in ((1, 1), (7, 2), (25, 1), (1000, 3)):
        monkeypatch.setattr(exporter, "CHUNK", chunk)
        monkeypatch.setattr(exporter, "SESSION_PAGE", page)
        assert asyncio.run(export_in_process(source.url)) == source.exported, (chunk, page)


def test_lines_read_a_value_at_a_time_store_the_same(
    source: Source, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(longline, "LONG_LINE", 64)
    monkeypatch.setattr(longline, "BLOCK", 16)
    monkeypatch.setattr(longline, "CHUNK", 3)
    (tmp_path / "all.jsonl").write_bytes(source.exported)
    url = sqlite_url(tmp_path / "db.db")
    ran = cli("import", str(tmp_path / "all.jsonl"), "--database-url", url)
    assert ran.status == 0, ran.err
    assert asyncio.run(export_in_process(url)) == source.exported


def test_a_repeated_client_id_in_a_streamed_line_takes_back_its_rows(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A streamed line's client ids are not remembered: the unique index finds a repeat
    after earlier chunks of the line went in, and the transaction takes them back."""
    monkeypatch.setattr(longline, "LONG_LINE", 64)
    monkeypatch.setattr(longline, "CHUNK", 2)
    events = [{"ts_us": i, "name": "e", "data": None, "client_id": f"c{i % 5}"} for i in range(6)]
    (tmp_path / "in.jsonl").write_bytes(jsonl(line("a"), line("b", events=events)))
    url = sqlite_url(tmp_path / "db.db")
    ran = cli("import", str(tmp_path / "in.jsonl"), "--database-url", url)
    assert ran.status == 1
    assert "line 2: events: a client id appears twice in this session" in ran.err, ran.err
    assert ids_in(url) == ["a"]
    assert asyncio.run(row_counts(url))["events"] == 1


async def export_in_process(url: str, since_us: int | None = None) -> bytes:
    engine = create_engine(url, pool_size=1)
    pieces: list[bytes] = []
    try:
        await exporter.export_sessions(engine, since_us, pieces.append)
    finally:
        await engine.dispose()
    return b"".join(pieces)


async def row_counts(url: str) -> dict[str, int]:
    from sqlalchemy import text

    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return {
                table: int(await conn.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
                for table in ("sessions", "state_history", "events", "metrics", "metric_names")
            }
    finally:
        await engine.dispose()


# -- hand-made files, through the command in this process ------------------------------


def test_since_keeps_sessions_active_at_or_after_the_date(
    backend: str, tmp_path: Path, cli: Any
) -> None:
    day = 86_400_000_000
    old, edge, new = (line(f"s-{n}", CLOSED + offset) for n, offset in ((1, -1), (2, 0), (3, day)))
    (tmp_path / "in.jsonl").write_bytes(jsonl(new, old, edge))
    with fresh_database(backend, tmp_path / "db") as url:
        assert cli("import", str(tmp_path / "in.jsonl"), "--database-url", url).status == 0

        def exported(*since: str) -> list[str]:
            out = tmp_path / "out.jsonl"
            assert cli("export", *since, "-o", str(out), "--database-url", url).status == 0
            return [orjson.loads(text)["id"] for text in out.read_bytes().splitlines()]

        assert exported() == ["s-3", "s-1", "s-2"]
        assert exported("--since", "2026-01-01") == ["s-3", "s-2"]
        assert exported("--since", "2026-01-01T00:00:00.000001Z") == ["s-3"]
        assert exported("--since", "2026-01-02T01:00:00+01:00") == ["s-3"]
        assert exported("--since", "2026-01-02T00:00:00.000001") == []

    for bad in ("yesterday", "2026-13-01", "1767225600"):
        ran = cli("export", "--since", bad, "--database-url", sqlite_url(tmp_path / "x.db"))
        assert ran.status == 2
        assert "argument --since" in ran.err and "RFC 3339" in ran.err, ran.err


@pytest.fixture(params=["whole", "streamed"])
def reading(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How the import reads lines: parsed whole, or (as a line past ``LONG_LINE`` is)
    a value at a time, in blocks small enough to cut values and characters apart."""
    if request.param == "streamed":
        monkeypatch.setattr(longline, "LONG_LINE", 1)
        monkeypatch.setattr(longline, "BLOCK", 5)
        monkeypatch.setattr(longline, "CHUNK", 2)
    return str(request.param)


def test_a_bad_line_stops_the_import_and_leaves_nothing_of_its_session(
    backend: str, reading: str, tmp_path: Path, cli: Any
) -> None:
    rows = [{"ts_us": CLOSED, "name": "e", "data": {"i": i}, "client_id": None} for i in range(9)]
    bad_metric = {"ts_us": CLOSED, "name": "m", "value": "x", "tags": None, "client_id": None}
    good_metric = {**bad_metric, "value": 1.5}
    first, second = line("s-1"), line("s-2")
    # Its events come before the fault, so a writer that inserted as it read would leave them.
    third = line("s-3", events=rows, metrics=[good_metric, bad_metric])
    (tmp_path / "in.jsonl").write_bytes(jsonl(first, second, third, line("s-4")))
    with fresh_database(backend, tmp_path / "db") as url:
        ran = cli("import", str(tmp_path / "in.jsonl"), "--database-url", url)
        assert ran.status == 1
        assert "line 3: metrics[1].value: must be a finite number" in ran.err, ran.err
        assert "imported 2 sessions" in ran.err and ran.out == ""
        assert ids_in(url) == ["s-1", "s-2"]
        assert asyncio.run(row_counts(url))["events"] == 2

        # Mended, the same file goes in; what was stored before is skipped.
        third["metrics"] = [good_metric]
        (tmp_path / "in.jsonl").write_bytes(jsonl(first, second, third, line("s-4")))
        ran = cli("import", str(tmp_path / "in.jsonl"), "--database-url", url)
        assert ran.status == 0
        assert ran.out.startswith("imported 2 sessions (0 state patches, 10 events, 1 metric)")
        assert "skipped 2 sessions already there" in ran.out
        assert ids_in(url) == ["s-1", "s-2", "s-3", "s-4"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json\n", "line 2: not valid JSON"),
        (b"[]\n", "line 2: must be a JSON object"),
        (orjson.dumps({**line("x"), "extra": 1}) + b"\n", "line 2: unknown field 'extra'"),
        (
            orjson.dumps({**line("x"), "events": [{"ts_us": 1, "name": "e", "data": None}]})
            + b"\n",
            "line 2: events[0]: missing field 'client_id'",
        ),
        (orjson.dumps(line("x", status="gone")) + b"\n", "line 2: status: must be one of"),
        (orjson.dumps(line("x", state={"k": "\u0000"})) + b"\n", "line 2: state: contains a NUL"),
    ],
)
def test_each_kind_of_bad_line_is_named_with_its_number(
    content: bytes, message: str, reading: str, tmp_path: Path, cli: Any
) -> None:
    (tmp_path / "in.jsonl").write_bytes(jsonl(line("ok")) + content)
    url = sqlite_url(tmp_path / "db.db")
    ran = cli("import", str(tmp_path / "in.jsonl"), "--database-url", url)
    assert ran.status == 1
    assert message in ran.err, ran.err
    assert ids_in(url) == ["ok"]


def test_a_missing_file_or_database_is_an_error_that_creates_nothing(
    tmp_path: Path, cli: Any
) -> None:
    missing = sqlite_url(tmp_path / "missing.db")
    ran = cli("export", "-o", str(tmp_path / "out.jsonl"), "--database-url", missing)
    assert ran.status == 1 and "no database file" in ran.err
    ran = cli("import", str(tmp_path / "none.jsonl"), "--database-url", missing)
    assert ran.status == 1 and "no such file" in ran.err
    assert list(tmp_path.iterdir()) == []
    ran = cli("export", "-o", str(tmp_path / "no" / "out.jsonl"), "--database-url", missing)
    assert ran.status == 1 and "no database file" in ran.err
    (tmp_path / "db.db").touch()
    present = sqlite_url(tmp_path / "db.db")
    ran = cli("export", "-o", str(tmp_path / "no" / "out.jsonl"), "--database-url", present)
    assert ran.status == 1 and "no directory for" in ran.err
    ran = cli("export", "--database-url", present)
    assert ran.status == 1 and "no such table: sessions" in ran.err


# -- standard input and the terminal, as real processes ---------------------------------


def test_import_reads_standard_input_and_skips_blank_lines(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "db.db")
    stdin = jsonl(line("a")) + b"\n  \n" + jsonl(line("b"))
    done = datacat("import", "-", "--database-url", url, stdin=stdin)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().startswith("imported 2 sessions")


def test_an_import_beside_a_running_server_leaves_both_whole(backend: str, tmp_path: Path) -> None:
    """The import takes the server's write lock group by group: the server's own writes
    keep succeeding meanwhile, and it serves the imported sessions at once."""
    rows = [
        {"ts_us": CLOSED + i, "name": "e", "data": {"i": i}, "client_id": None} for i in range(40)
    ]
    lines = [line(f"imported-{n:04}", events=rows) for n in range(1500)]
    (tmp_path / "in.jsonl").write_bytes(jsonl(*lines))
    with fresh_database(backend, tmp_path / "db") as url, serve(url) as base:
        http = httpx.Client(base_url=base, timeout=30)
        own = http.post("/api/sessions").json()["session_id"]
        importing = subprocess.Popen(
            [sys.executable, "-m", "datacat.cli", "import", str(tmp_path / "in.jsonl")],
            env={**os.environ, "DATACAT_DATABASE_URL": url},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        written = 0
        while importing.poll() is None:
            answer = http.post(f"/api/sessions/{own}/events", json={"name": "beside"})
            assert answer.status_code == 200, answer.text
            written += 1
        out, err = importing.communicate()
        assert importing.returncode == 0, err.decode()
        assert out.decode().startswith("imported 1,500 sessions (0 state patches, 60,000 events")
        assert written > 0, written
        assert len(http.get(f"/api/sessions/{own}").json()["events"]) == written
        served = http.get("/api/sessions/imported-0042").json()
        assert [event["data"] for event in served["events"]] == [{"i": i} for i in range(40)]


def test_a_progress_bar_on_a_terminal_and_none_in_a_pipe(tmp_path: Path, cli: Any) -> None:
    url = sqlite_url(tmp_path / "db.db")
    (tmp_path / "in.jsonl").write_bytes(jsonl(*(line(f"s-{n}") for n in range(3))))
    assert cli("import", str(tmp_path / "in.jsonl"), "--database-url", url).status == 0

    piped = datacat("export", "-o", str(tmp_path / "out.jsonl"), "--database-url", url)
    summary = "exported 3 sessions (0 state patches, 3 events, 0 metrics) to"
    assert piped.stderr.decode() == f"{summary} {tmp_path / 'out.jsonl'}\n"

    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "datacat.cli", "export", "--database-url", url],
            stdout=subprocess.DEVNULL,
            stderr=follower,
        )
        os.close(follower)
        assert process.wait(timeout=120) == 0
        shown = _read_all(leader).decode()
    finally:
        os.close(leader)
    assert "\rexporting [" in shown and "] 3/3 sessions" in shown, shown
    assert "exported 3 sessions" in shown


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


# -- the line format --------------------------------------------------------------------


def test_a_line_reads_back_as_what_it_says() -> None:
    events = [
        {"ts_us": -1, "name": "e", "data": {"b": 1, "a": [None]}, "client_id": "c"},
        {"ts_us": 2, "name": "é", "data": None, "client_id": None},
        {"ts_us": 4, "name": "l", "data": None, "client_id": None, **LEVELLED},
    ]
    metrics = [
        {"ts_us": 3, "name": "m", "value": 2, "tags": ["x"], "client_id": None},
        {"ts_us": 5, "name": "t", "value": 1, "tags": None, "client_id": None, **TIMED},
    ]
    record = parse_line(orjson.dumps(line("x", metadata={"k": 1}, events=events, metrics=metrics)))
    assert record.id == "x" and record.session["metadata"] == {"k": 1}
    # The writer's forms (``store.bulk``'s column order, client id last): JSON text as
    # encoded, a metric's value as a float, absent issue-12 fields as NULL.
    no_level = (None, None, None, None)
    assert record.events == [
        (-1, "e", '{"b":1,"a":[null]}', *no_level, "c"),
        (2, "é", "null", *no_level, None),
        (4, "l", "null", "error", "disk ✓ full", "io", '["b","a"]', None),
    ]
    assert record.metrics == [
        (3, "m", 2.0, '["x"]', None, None, None),
        (5, "t", 1.0, "null", "timer", "ms", None),
    ]
    assert record.rows == 5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": ""}, "id: must be a string of 1 to 36"),
        ({"created_us": 1.5}, "created_us: must be integer microseconds"),
        ({"ended_us": 10**18}, "ended_us: must be integer microseconds"),
        ({"active": 1}, "active: must be true or false"),
        ({"product": "x" * 257}, "product: must be a string of at most 256"),
        ({"metadata": []}, "metadata: must be an object or null"),
        ({"heartbeat_timeout_s": 0}, "heartbeat_timeout_s: must be null or seconds above 0"),
        ({"events": {}}, "events: must be a list"),
        (
            {"state_history": [{"ts_us": 1, "patch": [], "client_id": None}]},
            "state_history[0].patch",
        ),
        (
            {
                "metrics": [
                    {"ts_us": 1, "name": "m", "value": True, "tags": None, "client_id": None}
                ]
            },
            "metrics[0].value: must be a finite number",
        ),
        (
            {"metrics": [{"ts_us": 1, "name": "m", "value": 1, "tags": [2], "client_id": None}]},
            "metrics[0].tags[0]: must be a string",
        ),
        (
            {"events": [{"ts_us": 1, "name": "", "data": None, "client_id": None}]},
            "events[0].name: must be a string of 1 to 256",
        ),
        (
            {
                "events": [
                    {"ts_us": 1, "name": "e", "data": None, "client_id": "c"},
                    {"ts_us": 2, "name": "e", "data": None, "client_id": "c"},
                ]
            },
            "events[1].client_id: 'c' appears twice in this session",
        ),
        (
            {"events": [{"ts_us": 1, "name": "e", "data": None, "client_id": None, "level": "x"}]},
            "events[0].level: must be null or one of debug, info",
        ),
        (
            {"events": [{"ts_us": 1, "name": "e", "data": None, "client_id": None, "labels": [1]}]},
            "events[0].labels[0]: must be a string",
        ),
        (
            {"events": [{"ts_us": 1, "name": "e", "data": None, "client_id": None, "extra": 1}]},
            "events[0]: unknown field 'extra'",
        ),
        (
            {
                "metrics": [
                    {
                        "ts_us": 1,
                        "name": "m",
                        "value": 1,
                        "tags": None,
                        "client_id": None,
                        "kind": 1,
                    }
                ]
            },
            "metrics[0].kind: must be null or one of gauge",
        ),
        (
            {
                "metrics": [
                    {
                        "ts_us": 1,
                        "name": "m",
                        "value": 1,
                        "tags": None,
                        "client_id": None,
                        "unit": "",
                    }
                ]
            },
            "metrics[0].unit: must be null or a string of 1 to 64",
        ),
    ],
)
def test_parse_line_names_the_field_at_fault(change: dict[str, Any], message: str) -> None:
    with pytest.raises(LineError) as caught:
        parse_line(orjson.dumps(line("x", **change)))
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_backslash_u0000_in_text_is_not_a_nul() -> None:
    record = parse_line(orjson.dumps(line("x", state={"path": "C:\\u0000"})))
    assert record.session["state"] == {"path": "C:\\u0000"}


# -- streamed lines read as whole ones do ------------------------------------------------

_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)
_client_id = st.none() | st.text(st.characters(codec="utf-8"), min_size=1, max_size=3)
_events = st.lists(
    st.fixed_dictionaries({"ts_us": st.integers(-(10**12), 10**12), "name": _text, "data": _json}),
    max_size=6,
)


def _streamed(text: bytes, block: int) -> transferformat.SessionRecord:
    more = iter(text[i : i + block] for i in range(block, len(text), block))
    record: transferformat.SessionRecord | None = None
    for kind, value in longline.LongLine(text[:block], lambda _: next(more, b"")).pieces():
        if kind == "session":
            record = transferformat.SessionRecord(value)
        else:
            assert record is not None
            getattr(record, "history" if kind == "state_history" else kind).extend(value)
    assert record is not None
    return record


@settings(max_examples=200, deadline=None)
@given(
    state=st.dictionaries(_text, _json, max_size=4),
    events=_events,
    ids=st.lists(_client_id, min_size=6, max_size=6),
    spaced=st.booleans(),
    ascii_only=st.booleans(),
    block=st.integers(1, 40),
)
def test_a_streamed_line_reads_as_the_whole_line_does(
    state: dict[str, Any],
    events: list[dict[str, Any]],
    ids: list[str | None],
    spaced: bool,
    ascii_only: bool,
    block: int,
) -> None:
    """Any line — numbers and characters cut by blocks, escapes, white space — gives the
    same record both ways, or the same refusal (a repeated client id aside: a streamed
    line leaves that to the database)."""
    rows = [{**event, "client_id": ids[i]} for i, event in enumerate(events)]
    body = line("x", state=state, events=rows)
    separators = (", ", ": ") if spaced else (",", ":")
    text = json.dumps(body, separators=separators, ensure_ascii=ascii_only).encode() + b"\n"
    try:
        whole = parse_line(text)
    except LineError as exc:
        if "appears twice" in str(exc):
            return
        with pytest.raises(LineError):
            _streamed(text, block)
        return
    assert _streamed(text, block) == whole


def test_counts_read_as_english() -> None:
    counts = transferformat.Counts(sessions=1, state_history=1, events=2, metrics=1_000)
    assert counts.describe() == "1 session (1 state patch, 2 events, 1,000 metrics)"
    assert transferformat.Counts().describe() == "0 sessions (0 state patches, 0 events, 0 metrics)"
