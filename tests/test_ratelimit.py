"""The rate limit: the token-bucket rule on a fake clock, then real servers with a low rate.

A caller over the rate gets a 429 with ``Retry-After`` and its request does nothing;
another caller (another address, another key) is unaffected; health checks are never
limited; the caller gets through again after the wait; and the Python client, told 429,
backs off and still delivers everything it was given, once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from datacat.ratelimit import TokenBuckets
from datacat_client import DatacatClient, Session
from support import FAST, ServerProcess, datacat_server, eventually
from support.auth import bearer, create_key

RATE = 4

# -- the rule -------------------------------------------------------------------------


def test_a_burst_then_one_token_per_interval() -> None:
    buckets = TokenBuckets(rate=2, burst=3)
    assert [buckets.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", 0.0) == pytest.approx(0.5)
    assert buckets.take("a", 0.25) == pytest.approx(0.25)  # refused: still waiting
    assert buckets.take("a", 0.5) == 0.0
    assert buckets.take("a", 0.5) == pytest.approx(0.5)
    assert buckets.take("b", 0.5) == 0.0  # another caller has its own bucket


def test_no_burst_means_one_seconds_worth_and_at_least_one() -> None:
    five = TokenBuckets(rate=5, burst=0)
    assert [five.take("a", 0.0) for _ in range(6)][-2:] == [0.0, pytest.approx(0.2)]
    slow = TokenBuckets(rate=0.5, burst=0)
    assert slow.take("a", 0.0) == 0.0
    assert slow.take("a", 0.0) == pytest.approx(2.0)


def test_a_bucket_is_forgotten_only_once_it_is_full_again() -> None:
    buckets = TokenBuckets(rate=1, burst=2)
    for caller in range(100):
        buckets.take(f"c{caller}", 0.0)
    assert len(buckets) == 100
    buckets.take("late", 1.5)  # the others have 1.5 of 2 tokens back: kept
    assert len(buckets) == 101
    buckets.take("later", 2.0)  # full again: the same as a new bucket, so dropped
    assert len(buckets) == 2


def test_memory_stays_bounded_whatever_the_number_of_callers() -> None:
    buckets = TokenBuckets(rate=1, burst=1, max_buckets=50)
    for caller in range(10_000):
        assert buckets.take(f"addr{caller}", 0.0) == 0.0
        assert len(buckets) <= 50


def test_a_rate_of_zero_is_refused() -> None:
    with pytest.raises(ValueError):
        TokenBuckets(rate=0, burst=1)


# -- real servers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """An open server (no keys): the limit is per client address."""
    folder = tmp_path_factory.mktemp("ratelimit-open")
    env = {"DATACAT_RATE_LIMIT_PER_S": str(RATE), "DATACAT_RATE_LIMIT_BURST": str(RATE)}
    with datacat_server(f"sqlite+aiosqlite:///{folder / 'open.db'}", env=env) as server:
        yield server


def from_address(address: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def exhaust(http: httpx.Client, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """Call until refused (a loaded machine may refill a token or two meanwhile)."""
    for _ in range(RATE * 20):
        response = http.get(url, headers=headers)
        if response.status_code == 429:
            return response
        assert response.status_code == 200, response.text
    raise AssertionError(f"never refused at {RATE}/s")


def assert_refusal(response: httpx.Response, per: str) -> int:
    assert response.status_code == 429
    assert response.json() == {
        "detail": f"rate limit of {RATE} requests/s per {per} exceeded (DATACAT_RATE_LIMIT_PER_S)"
    }
    wait = int(response.headers["retry-after"])  # whole seconds
    assert wait >= 1
    return wait


def test_over_the_rate_is_429_with_retry_after_then_recovers(limited: ServerProcess) -> None:
    url = limited.url
    with from_address("127.0.0.1") as first, from_address("127.0.0.2") as second:
        session_id = second.post(f"{url}/api/sessions").json()["session_id"]
        wait = assert_refusal(exhaust(first, f"{url}/api/sessions"), "client address")

        # Refused, a write does nothing; health checks are never limited.
        refused = first.post(f"{url}/api/sessions/{session_id}/events", json={"name": "no"})
        assert refused.status_code == 429
        assert all(first.get(f"{url}/{path}").status_code == 200 for path in ["healthz"] * 20)
        assert first.get(f"{url}/readyz").status_code == 200
        # Another address is unaffected meanwhile.
        assert second.get(f"{url}/api/sessions/{session_id}").json()["events"] == []

        time.sleep(wait)
        stored = first.post(f"{url}/api/sessions/{session_id}/events", json={"name": "yes"})
        assert stored.status_code == 200, stored.text
        events = second.get(f"{url}/api/sessions/{session_id}").json()["events"]
        assert [e["name"] for e in events] == ["yes"]


def test_the_python_client_backs_off_and_delivers_everything(
    limited: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="datacat_client")
    transport = httpx.HTTPTransport(local_address="127.0.0.3")
    with DatacatClient(limited.url, batch=FAST, transport=transport) as client:
        session = Session(client, client.register_session(product="ratelimited"))
        with from_address("127.0.0.3") as same_address:
            exhaust(same_address, f"{limited.url}/api/sessions?limit=1")
        for i in range(300):
            session.log_metric("m", i)
            session.log_event("e", {"i": i})
            if i % 30 == 0:
                time.sleep(0.05)  # several flushes, so several batches meet the limit
        assert session.flush(timeout=60)
        assert (session.delivered, session.dropped, list(session.errors)) == (600, 0, [])
        session_id = session.session_id

    told = [r.getMessage() for r in caplog.records if "429" in r.getMessage()]
    assert told, "the client was never refused: the test proves nothing"
    assert any("delivered after" in r.getMessage() for r in caplog.records)
    with from_address("127.0.0.4") as reader:
        stored = eventually(lambda: reader.get(f"{limited.url}/api/sessions/{session_id}"))
        body = stored.json()
    assert sorted(m["value"] for m in body["metrics"]) == list(range(300))
    assert sorted(e["data"]["i"] for e in body["events"]) == list(range(300))


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """A server with keys: the limit is per key, whatever address the key comes from."""
    folder: Path = tmp_path_factory.mktemp("ratelimit-keys")
    database_url = f"sqlite+aiosqlite:///{folder / 'keys.db'}"
    env = {"DATACAT_RATE_LIMIT_PER_S": str(RATE), "DATACAT_RATE_LIMIT_BURST": str(RATE)}
    with datacat_server(database_url, env=env) as server:
        keys = [create_key(database_url, "read") for _ in range(2)]
        eventually(lambda: httpx.get(f"{server.url}/api/sessions").status_code == 401)
        yield server.url, keys


def test_the_limit_is_per_key(keyed: tuple[str, list[str]]) -> None:
    url, (one, other) = keyed
    with from_address("127.0.0.1") as http:
        listing = f"{url}/api/sessions?limit=1"
        assert_refusal(exhaust(http, listing, headers=bearer(one)), "key")
        # The same address with another key goes on; the first key is refused from anywhere.
        assert http.get(listing, headers=bearer(other)).status_code == 200
        with from_address("127.0.0.5") as elsewhere:
            assert elsewhere.get(listing, headers=bearer(one)).status_code == 429
