"""The server dies mid-run: everything queued arrives once when it returns."""

from __future__ import annotations

import threading
import time

import httpx

from datacat_client import DatacatClient, Session
from support import FAST, ServerProcess, stored_metrics


def test_server_down_and_restarted_loses_and_duplicates_nothing(
    own_server: ServerProcess,
) -> None:
    client = DatacatClient(own_server.url, batch=FAST, timeout=5)
    session = Session(client, client.register_session())
    for i in range(1000):
        session.log_metric("before", i)
    assert session.flush(30)

    own_server.stop()
    down_at = time.monotonic()
    for i in range(3000):
        session.log_metric("during", i)
        session.log_event("during", {"i": i}) if i % 100 == 0 else None
    session.update_state({"phase": "while down"})
    assert not session.flush(0.2)  # the worker is failing and backing off
    time.sleep(max(0.0, 5.0 - (time.monotonic() - down_at)))  # down for 5 s in all
    own_server.start()

    assert session.flush(60)
    session.end()
    details = session.get_details()
    metrics = stored_metrics(own_server.url, session.session_id)
    assert len(metrics) == 4000
    during = sorted(m["value"] for m in metrics if m["name"] == "during")
    assert during == list(range(3000))
    assert len([e for e in details["events"] if e["name"] == "during"]) == 30
    assert details["state"] == {"phase": "while down"} and details["status"] == "ended"
    assert session.dropped == 0 and not session.errors
    client.close()


class LoseFirstAnswers(httpx.BaseTransport):
    """Delivers each of the first ``n`` batches, then pretends the answer was lost."""

    def __init__(self, n: int) -> None:
        self._inner = httpx.HTTPTransport()
        self._left = n
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        with self._lock:
            lose = request.url.path == "/api/batch" and self._left > 0
            self._left -= lose
        if lose:
            response.read()
            raise httpx.ReadError("connection reset after the server answered")
        return response


def test_resent_batches_after_lost_answers_are_stored_once(url: str) -> None:
    client = DatacatClient(url, batch=FAST, transport=LoseFirstAnswers(3))
    session = Session(client, client.register_session())
    for i in range(500):
        session.log_metric("m", i)
        if i % 50 == 0:
            session.log_event("e", {"i": i})
            session.update_state({"progress": {f"p{i}": i}})
    assert session.flush(30)
    metrics = stored_metrics(url, session.session_id)
    assert sorted(m["value"] for m in metrics) == list(range(500))
    details = session.get_details()
    assert len(details["events"]) == 10
    assert details["state"]["progress"] == {f"p{i}": i for i in range(0, 500, 50)}
    history = httpx.get(f"{url}/api/sessions/{session.session_id}/state/history").json()
    assert len(history["items"]) == 10  # each patch applied once despite the resends
    client.close()
