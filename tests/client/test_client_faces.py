"""The sync and the async face behave alike: every test here runs once per face.

A :class:`Face` puts either face behind one blocking interface — ``face.call(obj, "name",
...)`` calls the method and, on the async face, awaits it on a loop running in its own
thread (so workers and monitors run in real time, as in an application). When the two
faces drift apart, one of the two runs of a test fails.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from datacat_client import (
    AsyncDatacatClient,
    AsyncSession,
    BatchConfig,
    DatacatClient,
    InvalidData,
    Session,
    create_session,
)
from support import FAST, eventually, free_port, stored_metrics

# Long enough that nothing is delivered before a read unless the read flushes.
SLOW = BatchConfig(flush_interval=30.0, close_timeout=30.0, read_flush_timeout=30.0)


class _Recorder:
    """Keeps every ``/api/batch`` body; with ``lose_first``, the first answer never arrives."""

    def __init__(self, lose_first: bool) -> None:
        self.lose_first = lose_first
        self.batches: list[dict[str, Any]] = []
        self.lost = 0

    def _lose(self, request: httpx.Request) -> bool:
        if request.url.path != "/api/batch":
            return False
        self.batches.append(json.loads(request.content))
        if self.lose_first and not self.lost:
            self.lost += 1
            return True
        return False

    def items(self) -> list[dict[str, Any]]:
        return [item for body in self.batches for item in body["items"]]


class RecordingTransport(httpx.HTTPTransport, _Recorder):
    def __init__(self, lose_first: bool = False) -> None:
        httpx.HTTPTransport.__init__(self)
        _Recorder.__init__(self, lose_first)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if self._lose(request):
            response.read()
            response.close()
            raise httpx.ReadError("the answer was lost", request=request)
        return response


class AsyncRecordingTransport(httpx.AsyncHTTPTransport, _Recorder):
    def __init__(self, lose_first: bool = False) -> None:
        httpx.AsyncHTTPTransport.__init__(self)
        _Recorder.__init__(self, lose_first)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if self._lose(request):
            await response.aread()
            await response.aclose()
            raise httpx.ReadError("the answer was lost", request=request)
        return response


class Face:
    name: str
    session_class: type[Session] | type[AsyncSession]

    def run(self, thunk: Callable[[], Any]) -> Any:
        raise NotImplementedError

    def call(self, target: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.run(lambda: getattr(target, method)(*args, **kwargs))

    def client(self, url: str, batch: BatchConfig = FAST, transport: Any = None) -> Any:
        raise NotImplementedError

    def transport(self, lose_first: bool = False) -> _Recorder:
        raise NotImplementedError

    def owned_session(self, url: str) -> Any:
        raise NotImplementedError

    def close(self, client: Any) -> None:
        raise NotImplementedError

    def session(self, client: Any, session_id: str | None = None, **options: Any) -> Any:
        if session_id is None:
            session_id = self.call(client, "register_session")
        return self.session_class(client, session_id, **options)


class SyncFace(Face):
    name = "sync"
    session_class = Session

    def run(self, thunk: Callable[[], Any]) -> Any:
        return thunk()

    def client(self, url: str, batch: BatchConfig = FAST, transport: Any = None) -> Any:
        return DatacatClient(url, batch=batch, transport=transport)

    def transport(self, lose_first: bool = False) -> _Recorder:
        return RecordingTransport(lose_first)

    def owned_session(self, url: str) -> Any:
        return create_session(url, batch=FAST)

    def close(self, client: Any) -> None:
        client.close()


class AsyncFace(Face):
    name = "async"
    session_class = AsyncSession

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, thunk: Callable[[], Any]) -> Any:
        async def invoke() -> Any:
            result = thunk()
            return await result if inspect.isawaitable(result) else result

        return asyncio.run_coroutine_threadsafe(invoke(), self.loop).result(timeout=120)

    def client(self, url: str, batch: BatchConfig = FAST, transport: Any = None) -> Any:
        return self.run(lambda: AsyncDatacatClient(url, batch=batch, transport=transport))

    def transport(self, lose_first: bool = False) -> _Recorder:
        return AsyncRecordingTransport(lose_first)

    def owned_session(self, url: str) -> Any:
        return self.run(lambda: AsyncSession.create(url, batch=FAST))

    def close(self, client: Any) -> None:
        self.run(client.aclose)

    def shutdown(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module", params=["sync", "async"])
def face(request: pytest.FixtureRequest) -> Iterator[Face]:
    if request.param == "sync":
        yield SyncFace()
        return
    async_face = AsyncFace()
    yield async_face
    async_face.shutdown()


@pytest.fixture
def face_client(face: Face, url: str) -> Iterator[Any]:
    opened = face.client(url)
    yield opened
    face.close(opened)


def _stored(raw: httpx.Client, session_id: str) -> dict[str, Any]:
    return raw.get(f"/api/sessions/{session_id}").json()  # type: ignore[no-any-return]


def _names(details: dict[str, Any]) -> list[str]:
    return [event["name"] for event in details["events"]]


# -- writes ---------------------------------------------------------------------------------
def _log_one_of_each(face: Face, session: Any) -> None:
    face.call(session, "update_state", {"a": {"b": 1}})
    face.call(session, "update_state", {"a": {"c": 2}})
    face.call(session, "log_event", "e", {"x": 1})
    face.call(session, "log_event", "bare")
    face.call(session, "log_metric", "m", 2, ["t"])
    face.call(session, "log_metric", "n", 1.5)
    face.call(session, "log_exception", ValueError("bad"), {"n": 1})


@pytest.mark.parametrize("batching", [True, False], ids=["batched", "unbatched"])
def test_each_write_is_stored(face: Face, face_client: Any, batching: bool) -> None:
    session = face.session(face_client, batching=batching)
    _log_one_of_each(face, session)
    face.call(session, "log_event_nowait", "nowait", {"y": 2})
    details = face.call(session, "get_details")
    assert details["state"] == {"a": {"b": 1, "c": 2}}
    events = {e["name"]: e["data"] for e in details["events"]}
    assert events.keys() == {"e", "bare", "exception", "nowait"}
    assert (events["e"], events["bare"], events["nowait"]) == ({"x": 1}, {}, {"y": 2})
    assert events["exception"]["type"] == "ValueError" and events["exception"]["n"] == 1
    assert events["exception"]["message"] == "bad" and events["exception"]["traceback"]
    metrics = [(m["name"], m["value"], m["tags"]) for m in details["metrics"]]
    assert metrics == [("m", 2.0, ["t"]), ("n", 1.5, [])]
    assert not session.errors and session.dropped == 0


def test_batch_items_on_the_wire(face: Face, url: str) -> None:
    transport = face.transport()
    client = face.client(url, transport=transport)
    try:
        session = face.session(client)
        _log_one_of_each(face, session)
        assert face.call(session, "flush", 30)
    finally:
        face.close(client)
    items = transport.items()
    assert [(i["op"], i.get("name")) for i in items] == [
        ("state", None),
        ("state", None),
        ("event", "e"),
        ("event", "bare"),
        ("metric", "m"),
        ("metric", "n"),
        ("event", "exception"),
    ]
    assert len({i["id"] for i in items}) == len(items)
    assert all(i["session_id"] == session.session_id for i in items)
    assert all(i["timestamp"].endswith("Z") for i in items)
    stamps = [i["timestamp"] for i in items]
    assert stamps == sorted(stamps)
    metric = {k: v for k, v in items[4].items() if k not in ("id", "timestamp")}
    assert metric == {
        "op": "metric",
        "session_id": session.session_id,
        "name": "m",
        "value": 2.0,
        "tags": ["t"],
    }
    assert items[0]["state"] == {"a": {"b": 1}} and items[3]["data"] == {}
    assert session.delivered == len(items)


def test_batched_writes_are_stored_exactly_once_after_a_lost_answer(face: Face, url: str) -> None:
    transport = face.transport(lose_first=True)
    client = face.client(url, transport=transport)
    try:
        session = face.session(client)
        for i in range(300):
            face.call(session, "log_metric", "m", i)
        assert face.call(session, "flush", 30)
    finally:
        face.close(client)
    assert transport.lost == 1
    assert sorted(m["value"] for m in stored_metrics(url, session.session_id)) == list(range(300))
    assert session.delivered == 300 and session.dropped == 0 and not session.errors


# -- refusals -------------------------------------------------------------------------------
REFUSED = [
    ("log_metric", ("", 1), "a name must be 1..256 characters, got 0"),
    ("log_metric", (7, 1), "a name must be a string, not int"),
    ("log_metric", ("m", "x"), "metric 'm': 'x' is not a number"),
    ("log_metric", ("m", None), "metric 'm': None is not a number"),
    ("log_metric", ("m", float("nan")), "metric 'm': nan is not finite"),
    ("log_metric", ("m", float("-inf")), "metric 'm': -inf is not finite"),
    ("log_metric", ("m", 1, [1]), "tags must be strings without NUL characters"),
    ("log_metric", ("m", 1, "t"), "tags must be a list of strings or an object, not str"),
    ("log_event", ("a\x00b",), "a name must not contain a NUL character"),
    ("log_event", ("e", {"x": float("nan")}), "data contains a non-finite number"),
    ("log_event", ("x" * 257,), "a name must be 1..256 characters, got 257"),
    ("update_state", (["no"],), "state must be a JSON object (dict), not list"),
    ("update_state", ({"k": "a\x00"},), "state contains a NUL character"),
    ("end", ("bogus",), "an end status is 'ended' or 'crashed', not 'bogus'"),
]


@pytest.mark.parametrize(
    ("method", "args", "message"), REFUSED, ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(REFUSED)]
)
def test_refused_calls_are_recorded_not_raised(
    face: Face, face_client: Any, method: str, args: tuple[Any, ...], message: str
) -> None:
    session = face.session(face_client)
    answer = face.call(session, method, *args)
    assert answer == ({"status": "ok"} if method == "end" else None)
    assert [(type(e), str(e)) for e in session.errors] == [(InvalidData, message)]
    strict = face.session(face_client, session.session_id, strict=True)
    with pytest.raises(InvalidData) as raised:
        face.call(strict, method, *args)
    assert str(raised.value) == message


# -- the end --------------------------------------------------------------------------------
@pytest.mark.parametrize("batching", [True, False], ids=["batched", "unbatched"])
def test_end_delivers_first_answers_ok_and_refuses_bad_statuses(
    face: Face, face_client: Any, raw: httpx.Client, batching: bool
) -> None:
    session = face.session(face_client, batching=batching)
    for i in range(50):
        face.call(session, "log_metric", "m", i)
    assert face.call(session, "end", "finished") == {"status": "ok"}
    assert _stored(raw, session.session_id)["status"] == "active"  # a refused end ends nothing
    assert face.call(session, "end") == {"status": "ok"}
    stored = _stored(raw, session.session_id)
    assert stored["status"] == "ended" and len(stored["metrics"]) == 50
    face.call(session, "log_event", "late")  # writes after the end still arrive
    assert _names(face.call(session, "get_details")) == ["late"]

    crashed = face.session(face_client, batching=batching)
    assert face.call(crashed, "end", "crashed") == {"status": "ok"}
    assert _stored(raw, crashed.session_id)["status"] == "crashed"


def test_an_owning_session_stops_its_worker_and_can_still_be_read(face: Face, url: str) -> None:
    session = face.owned_session(url)
    try:
        face.call(session, "log_event", "x")
        assert face.call(session, "end") == {"status": "ok"}
        assert session.client._worker is None
        details = face.call(session, "get_details")
        assert details["status"] == "ended" and _names(details) == ["x"]
    finally:
        face.close(session.client)


# -- reads ----------------------------------------------------------------------------------
def test_reads_see_the_clients_own_queued_writes(face: Face, url: str) -> None:
    client = face.client(url, batch=SLOW)
    try:
        session = face.session(client)
        sid = session.session_id
        face.call(session, "log_event", "queued", {"n": 1})
        face.call(session, "log_metric", "m", 1.5)
        assert _names(face.call(client, "get_session", sid)) == ["queued"]
        face.call(session, "update_state", {"k": 1})
        everything = {s["id"]: s for s in face.call(client, "get_all_sessions")}
        assert everything[sid]["state"] == {"k": 1}
        assert len(everything[sid]["metrics"]) == 1
        face.call(session, "log_event", "later")
        assert _names(face.call(session, "get_details")) == ["queued", "later"]
    finally:
        face.close(client)


# -- liveness -------------------------------------------------------------------------------
def test_monitor_reports_hung_once_then_recovered(
    face: Face, face_client: Any, raw: httpx.Client
) -> None:
    session = face.session(face_client)
    sid = session.session_id
    monitor = face.call(session, "start_heartbeat_monitor", 0.3, 0.05)
    assert monitor.is_running()
    face.call(session, "heartbeat")
    eventually(lambda: _stored(raw, sid)["status"] == "hung")
    face.call(session, "heartbeat")
    eventually(lambda: _stored(raw, sid)["status"] == "active")
    events = face.call(session, "get_details")["events"]
    assert [e["name"] for e in events] == ["application_appears_hung", "application_recovered"]
    assert events[0]["data"]["timeout"] == 0.3
    assert events[0]["data"]["seconds_since_heartbeat"] > 0.3
    assert events[1]["data"]["hung_for_seconds"] > 0
    face.call(session, "stop_heartbeat_monitor")
    assert not monitor.is_running()


def test_failed_keepalives_warn_once_per_streak(
    face: Face, caplog: pytest.LogCaptureFixture
) -> None:
    dead = face.client(f"http://127.0.0.1:{free_port()}")
    try:
        session = face.session(dead, "ghost")
        with caplog.at_level(logging.DEBUG, logger="datacat_client"):
            face.call(session, "start_heartbeat_monitor", 60, 0.05)
            monitor = session._heartbeat_monitor
            eventually(lambda: monitor._keepalive_failing)
            time.sleep(0.3)  # several more failed keep-alives, 0.05 s apart
            face.call(session, "stop_heartbeat_monitor")
    finally:
        face.close(dead)
    failures = [r for r in caplog.records if "keep-alive failed" in r.getMessage()]
    assert [r.levelno for r in failures] == [logging.WARNING]
