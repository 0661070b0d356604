"""Pure parts of the client: payload shapes, delivery decisions, the public surface."""

from __future__ import annotations

import sys
import threading

import datacat_client
from datacat_client import BatchConfig, DeliveryError, exception_data
from datacat_client._core import Outcome
from datacat_client._delivery import Delivery, Send, Sleep, backoff, chunks, drain
from datacat_client._exceptions import ConnectError
from datacat_client._json import loads, rfc3339
from datacat_client._ledger import Ledger
from datacat_client._outbox import Barrier, Outbox
from datacat_client._payloads import encode_item

EXPORTED = {
    "APIError",
    "AsyncDatacatClient",
    "AsyncHeartbeatMonitor",
    "AsyncSession",
    "BatchConfig",
    "ConnectError",
    "DatacatClient",
    "DatacatError",
    "DatacatHandler",
    "DeliveryError",
    "Forbidden",
    "HeartbeatMonitor",
    "InvalidData",
    "NotFound",
    "PayloadTooLarge",
    "ServerError",
    "Session",
    "Timeout",
    "TransportError",
    "Unauthorized",
    "Unprocessable",
    "create_session",
    "exception_data",
}


def test_public_surface_does_not_drift() -> None:
    assert set(datacat_client.__all__) == EXPORTED
    assert all(hasattr(datacat_client, name) for name in EXPORTED)


def test_exception_data_shapes() -> None:
    try:
        raise ValueError("v")
    except ValueError:
        current = exception_data()
        from_tuple = exception_data(sys.exc_info(), {"extra": 1, "message": "overridden"})
    assert current["type"] == "ValueError" and current["message"] == "v"
    assert current["traceback"][0] == "Traceback (most recent call last):"
    assert all("\n" not in line for line in current["traceback"])
    assert from_tuple["extra"] == 1 and from_tuple["message"] == "overridden"
    assert exception_data(KeyError("k"), fatal=True)["fatal"] is True
    assert exception_data() == {"type": "Unknown", "message": "", "traceback": []}
    assert exception_data(DeliveryError("x"))["module"] == "datacat_client._exceptions"


def test_rfc3339() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00.000000Z"
    assert rfc3339(1_767_225_600.123456) == "2026-01-01T00:00:00.123456Z"
    assert rfc3339(1.9999999) == "1970-01-01T00:00:02.000000Z"


def test_items_are_stamped_with_time_and_client_id() -> None:
    ledger = Ledger("sid")
    metric = loads(encode_item((ledger, "metric", 1.5, 255, "m", 2.0, None)))
    assert metric == {
        "op": "metric",
        "session_id": "sid",
        "timestamp": "1970-01-01T00:00:01.500000Z",
        "name": "m",
        "value": 2.0,
        "tags": [],
        "id": ledger.id_prefix + "ff",
    }
    event = loads(encode_item((ledger, "event", 0, 1, "e", b'{"a":1}', None)))
    assert event["data"] == {"a": 1} and event["id"] == ledger.id_prefix + "1"
    assert loads(encode_item((ledger, "state", 0, 2, b'{"s":1}', None, None)))["state"] == {"s": 1}
    assert len(ledger.client_id(2**40)) <= 64
    assert Ledger("sid").id_prefix != ledger.id_prefix


def _items(n: int, ledger: Ledger) -> list[tuple]:  # type: ignore[type-arg]
    return [(ledger, "metric", 0.0, i, "m", float(i), None) for i in range(n)]


def _sent_values(body: bytes) -> list[float]:
    return [item["value"] for item in loads(body)["items"]]


def test_chunks_respect_items_and_bytes() -> None:
    entries = [(None, b"x" * 10)] * 25
    assert [len(c) for c in chunks(entries, 10, 10_000)] == [10, 10, 5]  # type: ignore[arg-type]
    assert [len(c) for c in chunks(entries, 100, 12 + 11 * 7)] == [7, 7, 7, 4]  # type: ignore[arg-type]


def test_transient_failures_back_off_then_succeed() -> None:
    ledger = Ledger("s")
    config = BatchConfig(initial_backoff=0.1, max_backoff=0.3)
    steps = Delivery(_items(3, ledger), config).steps()
    assert isinstance(next(steps), Send)
    sleeps = []
    replies = [Outcome(None, error=ConnectError("down")), Outcome(503), Outcome(429, retry_after=2)]
    for reply in replies:
        step = steps.send(reply)
        assert isinstance(step, Sleep)
        sleeps.append(step.seconds)
        assert isinstance(steps.send(None), Send)
    assert sleeps == [0.1, 0.2, 2.0]
    try:
        steps.send(Outcome(200, {"accepted": 3}))
    except StopIteration:
        pass
    assert ledger.delivered == 3
    assert backoff(config, 10, None) == 0.3


def _drive(delivery: Delivery, answer) -> list[list[float]]:  # type: ignore[no-untyped-def]
    sent: list[list[float]] = []
    steps = delivery.steps()
    reply = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration:
            return sent
        assert isinstance(step, Send)
        sent.append(_sent_values(step.body))
        reply = answer(sent[-1])


def test_422_with_indexes_drops_those_and_resends_the_rest() -> None:
    ledger = Ledger("s")
    detail = [{"index": 1, "loc": ["body", "items", 1, "metric", "value"], "msg": "bad"}]

    def answer(values: list[float]) -> Outcome:
        return Outcome(422, detail) if 1.0 in values else Outcome(200, {"accepted": len(values)})

    sent = _drive(Delivery(_items(3, ledger), BatchConfig()), answer)
    assert sent == [[0.0, 1.0, 2.0], [0.0, 2.0]]
    assert ledger.dropped == 1 and ledger.delivered == 2
    assert "metric 'm'" in str(ledger.errors[0]) and "value: bad" in str(ledger.errors[0])


def test_413_splits_until_it_fits() -> None:
    ledger = Ledger("s")

    def answer(values: list[float]) -> Outcome:
        return Outcome(413, "too large") if len(values) > 2 else Outcome(200, {})

    sent = _drive(Delivery(_items(5, ledger), BatchConfig()), answer)
    assert [len(s) for s in sent] == [5, 2, 3, 1, 2]
    assert ledger.delivered == 5 and ledger.dropped == 0


def test_other_4xx_is_reported_not_retried() -> None:
    ledger = Ledger("s")
    sent = _drive(Delivery(_items(4, ledger), BatchConfig()), lambda _: Outcome(400, "nope"))
    assert len(sent) == 1 and ledger.dropped == 4
    assert isinstance(ledger.errors[0], DeliveryError) and ledger.errors[0].count == 4


def test_abandon_counts_what_is_left() -> None:
    ledger = Ledger("s")
    delivery = Delivery(_items(7, ledger), BatchConfig(max_batch_items=3))
    steps = delivery.steps()
    next(steps)
    steps.send(Outcome(200, {}))  # first chunk of 3 delivered
    delivery.abandon("stopping")
    assert ledger.delivered == 3 and ledger.dropped == 4


def test_oversized_single_item_is_dropped_up_front() -> None:
    ledger = Ledger("s")
    item = (ledger, "event", 0.0, 1, "big", b'"' + b"x" * 5000 + b'"', None)
    delivery = Delivery([item], BatchConfig(max_batch_bytes=2048))
    assert list(delivery.steps()) == []
    assert ledger.dropped == 1 and "larger than a whole batch" in str(ledger.errors[0])


def test_drain_delivers_run_by_run_and_releases_flushers() -> None:
    ledger = Ledger("s")
    config = BatchConfig(max_batch_items=2)
    outbox = Outbox(config, threading.Event())
    for item in _items(3, ledger):
        outbox.put(item)
    flushed = threading.Event()
    outbox.put_always(Barrier(flushed))
    steps = drain(outbox, config, lambda: False)
    sent = [_sent_values(next(steps).body)]  # type: ignore[union-attr]
    sent.append(_sent_values(steps.send(Outcome(200, {})).body))  # type: ignore[union-attr]
    assert not flushed.is_set()
    try:
        steps.send(Outcome(200, {}))
    except StopIteration:
        pass
    assert sent == [[0.0, 1.0], [2.0]] and flushed.is_set() and ledger.delivered == 3


def test_closing_a_drain_abandons_its_run_and_releases_the_flusher() -> None:
    ledger = Ledger("s")
    config = BatchConfig()
    outbox = Outbox(config, threading.Event())
    for item in _items(4, ledger):
        outbox.put(item)
    flushed = threading.Event()
    outbox.put_always(Barrier(flushed))
    steps = drain(outbox, config, lambda: False)
    next(steps)
    assert isinstance(steps.send(Outcome(503)), Sleep)
    steps.close()  # the worker stopped during the back-off
    assert ledger.dropped == 4 and flushed.is_set()
    assert "unreachable" in str(ledger.errors[-1])
