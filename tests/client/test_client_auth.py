"""The Python client's API key against a real key-protected server.

Keys are made the operator's way (``datacat keys create``); a ``CountingProxy`` between
client and server records every request, so "reported once, not retried" is checked where
it matters — at the server — and not only in what the client says about itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from datacat_client import (
    AsyncDatacatClient,
    AsyncSession,
    BatchConfig,
    DatacatClient,
    DeliveryError,
    Forbidden,
    InvalidData,
    Session,
    Unauthorized,
    create_session,
)
from datacat_client._core import Outcome
from datacat_client._delivery import Send, drain
from datacat_client._ledger import Ledger
from datacat_client._outbox import Barrier, Outbox
from support import FAST, eventually
from support.keyed import CountingProxy, KeyedServer, keyed_server

ENV = "DATACAT_API_KEY"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyedServer]:
    with keyed_server(tmp_path_factory.mktemp("keyed-client")) as server:
        yield server


@pytest.fixture
def proxy(keyed: KeyedServer) -> Iterator[CountingProxy]:
    with CountingProxy(keyed.url) as counting:
        yield counting


@pytest.fixture
def admin(keyed: KeyedServer) -> Iterator[httpx.Client]:
    """Reads what the server stored, with a key that may read everything."""
    headers = {"Authorization": f"Bearer {keyed.keys['admin']}"}
    with httpx.Client(base_url=keyed.url, headers=headers, timeout=30) as http:
        yield http


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)


def new_session(keyed: KeyedServer) -> str:
    with DatacatClient(keyed.url, api_key=keyed.keys["ingest"]) as writer:
        return writer.register_session(product="auth")


def client_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "datacat_client" and r.levelno >= logging.WARNING
    ]


# -- the key goes with every request -------------------------------------------------------
def test_an_ingest_key_goes_with_every_request_and_its_writes_are_stored(
    keyed: KeyedServer, proxy: CountingProxy, admin: httpx.Client
) -> None:
    key = keyed.keys["ingest"]
    with DatacatClient(proxy.url, api_key=key, batch=FAST) as client:
        sid = client.register_session(product="auth")
        client.log_event(sid, "direct")
        session = Session(client, sid)
        session.start_heartbeat_monitor(timeout=60, check_interval=0.05)
        session.update_state({"phase": "load"})
        session.log_event("queued", {"n": 1})
        for i in range(20):
            session.log_metric("m", i)
        assert session.flush(timeout=30)
        eventually(lambda: len(proxy.seen("/heartbeat")) >= 2)  # the monitor's keep-alives
        session.end()
    assert not session.errors and session.dropped == 0 and session.delivered == 23

    seen = proxy.seen()
    paths = {s.path.replace(sid, "ID") for s in seen}
    assert {"/api/sessions", "/api/sessions/ID/events", "/api/batch"} <= paths
    assert "/api/sessions/ID/heartbeat" in paths
    assert {s.authorization for s in seen} == {f"Bearer {key}"}
    assert {s.status for s in seen} == {200}

    stored = admin.get(f"/api/sessions/{sid}").json()
    assert [e["name"] for e in stored["events"]] == ["direct", "queued"]
    assert [m["value"] for m in stored["metrics"]] == [float(i) for i in range(20)]
    assert stored["state"] == {"phase": "load"} and stored["status"] == "ended"


async def test_the_async_face_sends_the_key_too(keyed: KeyedServer, proxy: CountingProxy) -> None:
    key = keyed.keys["ingest"]
    async with AsyncSession.create(proxy.url, api_key=key, batch=FAST) as session:
        session.start_heartbeat_monitor(timeout=60, check_interval=0.05)
        await session.log_event("async", {"ok": True})
        await session.log_metric("m", 1.5)
        assert await session.flush(timeout=30)
    sid = session.session_id
    assert not session.errors and session.delivered == 3  # event, metric, end
    assert {s.authorization for s in proxy.seen()} == {f"Bearer {key}"}
    assert proxy.seen("/heartbeat") and {s.status for s in proxy.seen()} == {200}

    async with AsyncDatacatClient(proxy.url, api_key=keyed.keys["read"]) as reader:
        details = await reader.get_session(sid)  # a read key reads
    assert [e["name"] for e in details["events"]] == ["async"]
    assert details["status"] == "ended" and details["metrics"][0]["value"] == 1.5


# -- a refused key: reported once, never retried ------------------------------------------
def test_a_read_key_writing_is_refused_once_and_nothing_is_retried(
    keyed: KeyedServer,
    proxy: CountingProxy,
    admin: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sid = new_session(keyed)
    with DatacatClient(proxy.url, api_key=keyed.keys["read"], batch=FAST) as client:
        with pytest.raises(Forbidden) as refused:
            client.log_event(sid, "direct")
        assert refused.value.status == 403
        assert str(refused.value).startswith("forbidden (403): ")
        assert "ingest" in str(refused.value)  # the server's detail: the scope it needs
        assert len(proxy.seen("/events")) == 1  # raised at once, not retried
        assert client.get_session(sid)["id"] == sid  # reading is what a read key may do

        session = Session(client, sid)
        session.start_heartbeat_monitor(timeout=60, check_interval=0.02)
        for i in range(50):
            session.log_metric("m", i)
        assert session.flush(timeout=30)
        for _ in range(5):  # later runs: the worker drains them without sending
            for i in range(10):
                session.log_metric("later", i)
            assert session.flush(timeout=30)
        monitor = session._heartbeat_monitor
        assert monitor is not None
        eventually(lambda: monitor._keepalive_refused)
        time.sleep(0.3)  # 15 check intervals: the monitor would have sent 15 keep-alives
        session.end()

    batches = proxy.seen("/api/batch")
    assert [(b.status, b.authorization) for b in batches] == [(403, f"Bearer {keyed.keys['read']}")]
    assert [k.status for k in proxy.seen("/heartbeat")] == [403]
    assert session.dropped == 50 + 50 + 1  # the end too
    assert session.delivered == 0
    assert len(session.errors) == 1
    error = session.errors[0]
    assert isinstance(error, DeliveryError) and isinstance(error.cause, Forbidden)
    assert "forbidden (403)" in str(error)

    warnings = client_warnings(caplog)
    assert len(warnings) == 2, warnings  # one for the batches, one for the keep-alives
    assert any("batched writes are dropped from now on" in w for w in warnings)
    assert any("keep-alives stopped" in w for w in warnings)
    stored = admin.get(f"/api/sessions/{sid}").json()
    assert stored["metrics"] == [] and stored["events"] == [] and stored["status"] == "active"


async def test_the_async_worker_stops_sending_after_a_refusal(
    keyed: KeyedServer, proxy: CountingProxy, caplog: pytest.LogCaptureFixture
) -> None:
    sid = new_session(keyed)
    async with AsyncDatacatClient(proxy.url, api_key=keyed.keys["read"], batch=FAST) as client:
        session = AsyncSession(client, sid)
        for _ in range(4):
            for i in range(10):
                await session.log_metric("m", i)
            assert await session.flush(timeout=30)
        await session.end()
    assert [b.status for b in proxy.seen("/api/batch")] == [403]
    assert session.dropped == 41 and len(session.errors) == 1
    assert isinstance(session.errors[0], DeliveryError)
    assert isinstance(session.errors[0].cause, Forbidden)
    assert len(client_warnings(caplog)) == 1


def test_an_unbatched_session_sends_one_refused_write_then_stops(
    keyed: KeyedServer, proxy: CountingProxy, caplog: pytest.LogCaptureFixture
) -> None:
    sid = new_session(keyed)
    with DatacatClient(proxy.url, api_key=keyed.keys["read"]) as client:
        session = Session(client, sid, batching=False)
        for i in range(5):
            session.log_metric("m", i)
        session.log_event("e")
        session.end()
        assert [s.status for s in proxy.seen(method="POST")] == [403]
        assert session.dropped == 7 and len(session.errors) == 1
        assert isinstance(session.errors[0], Forbidden)
        assert len(client_warnings(caplog)) == 1

        strict = Session(client, sid, batching=False, strict=True)
        with pytest.raises(Forbidden):  # strict: the caller sees each refusal
            strict.log_metric("m", 1)


def test_no_key_unknown_key_and_revoked_key_are_401(
    keyed: KeyedServer, proxy: CountingProxy
) -> None:
    with DatacatClient(proxy.url) as client:
        assert not client.has_api_key
        with pytest.raises(Unauthorized) as missing:
            client.register_session()
    message = str(missing.value)
    assert message.startswith("authentication failed (401): ") and missing.value.status == 401
    assert "api_key=" in message and ENV in message  # how to give one
    with pytest.raises(Unauthorized):
        create_session(proxy.url)
    for key in (keyed.unknown, keyed.revoked):
        with DatacatClient(proxy.url, api_key=key) as client, pytest.raises(Unauthorized) as bad:
            client.get_all_sessions()
        assert "invalid or revoked" in str(bad.value) and ENV not in str(bad.value)
    # Each refusal was one request: nothing was retried.
    assert [s.status for s in proxy.seen()] == [401] * 4
    assert [s.authorization for s in proxy.seen()] == [
        None,
        None,
        f"Bearer {keyed.unknown}",
        f"Bearer {keyed.revoked}",
    ]


async def test_the_async_face_raises_unauthorized(keyed: KeyedServer) -> None:
    with pytest.raises(Unauthorized):
        await AsyncSession.create(keyed.url, api_key=keyed.revoked)


# -- DATACAT_API_KEY -----------------------------------------------------------------------
async def test_the_environment_variable_is_the_default_key(
    keyed: KeyedServer, proxy: CountingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest, read = keyed.keys["ingest"], keyed.keys["read"]
    monkeypatch.setenv(ENV, f"{ingest}\n")  # as read from a file: the newline is dropped
    with create_session(proxy.url, batch=FAST) as session:
        session.log_event("from-the-environment")
    assert not session.errors and session.delivered == 2
    async with AsyncDatacatClient(proxy.url) as client:
        assert client.has_api_key
        await client.log_event(session.session_id, "async-from-the-environment")
    assert {s.authorization for s in proxy.seen()} == {f"Bearer {ingest}"}

    monkeypatch.setenv(ENV, read)
    with DatacatClient(proxy.url, api_key=ingest) as client:  # the argument wins
        client.register_session()
    with DatacatClient(proxy.url) as client, pytest.raises(Forbidden):
        client.register_session()
    with DatacatClient(proxy.url, api_key="") as client, pytest.raises(Unauthorized):
        client.register_session()  # "" sends no key, whatever the environment says
    assert [s.authorization for s in proxy.seen()][-3:] == [
        f"Bearer {ingest}",
        f"Bearer {read}",
        None,
    ]


# -- the key is never shown ----------------------------------------------------------------
def test_the_key_never_appears_in_reprs_logs_or_errors(
    keyed: KeyedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log each request at DEBUG
    secret = keyed.keys["read"]
    sid = new_session(keyed)
    shown: list[str] = []
    with DatacatClient(keyed.url, api_key=secret, batch=FAST) as client:
        try:
            client.update_state(sid, {"a": 1})
        except Forbidden as exc:
            shown += [str(exc), repr(exc), repr(exc.detail)]
        session = Session(client, sid)
        session.start_heartbeat_monitor(timeout=60, check_interval=0.02)
        session.log_metric("m", 1)
        session.flush(timeout=30)
        eventually(lambda: session._heartbeat_monitor._keepalive_refused)  # type: ignore[union-attr]
        shown += [repr(client), repr(session), repr(client._http), repr(client._http.headers)]
        shown += [str(e) for e in session.errors] + [repr(e) for e in session.errors]
        session.end()
    shown.append(caplog.text)
    assert "with an API key" in repr(client)
    assert any("forbidden (403)" in text for text in shown)
    body = secret.split("_", 1)[1]
    leaks = [text for text in shown if secret in text or body[-20:] in text]
    assert not leaks

    with pytest.raises(InvalidData) as bad:
        DatacatClient(keyed.url, api_key="not a key\n")
    assert "not a key" not in str(bad.value)


# -- the rule itself, without a network ----------------------------------------------------
def test_after_a_refusal_the_outbox_is_drained_without_sending() -> None:
    config = BatchConfig(max_batch_items=2)
    outbox = Outbox(config, threading.Event())
    first, second = Ledger("a"), Ledger("b")
    for i in range(5):
        outbox.put((first if i % 2 else second, "metric", 0.0, i, "m", 1.0, None))
    steps = drain(outbox, config, lambda: False)
    assert isinstance(next(steps), Send)
    with pytest.raises(StopIteration):  # the refusal ends the run: nothing else is sent
        steps.send(Outcome(401, "an API key is required", error=Unauthorized(401, "x")))
    assert (first.dropped, second.dropped) == (2, 3)
    assert len(first.errors) == len(second.errors) == 1
    assert isinstance(outbox.refused, Unauthorized)

    flushed = threading.Event()
    outbox.put((first, "metric", 0.0, 9, "m", 1.0, None))
    outbox.put_always(Barrier(flushed))
    assert list(drain(outbox, config, lambda: False)) == []  # no Send, no Sleep
    assert flushed.is_set() and first.dropped == 3 and len(first.errors) == 1
