"""Webhooks on trouble, end to end: a real ``datacat serve``, a real HTTP receiver.

The receiver is a small ``http.server`` in a thread that records every request and can
answer 500 a given number of times first. Hooks are made with the real ``datacat hooks``
command (its ``main``, in process); sessions get into trouble through the HTTP API (a
crashed end, the client monitor's hang event, a missed keep-alive the sweeper notices,
an exception). Every delivery's signature is checked against the secret the command
printed.

"Exactly once" is checked with a sentinel: after the deliveries under test arrive, one
more session crashes and the test waits for its delivery; deliveries are made in the
order their trouble was recorded, so a repeat of an earlier one would have come first.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import http.server
import io
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from datacat import webhookrules as rules
from datacat.cli import main
from datacat.store.ops import LogEvent
from datacat.store.repository import Repository
from datacat.timefmt import now_us
from support import ServerProcess, datacat_server, eventually, fresh_database

FAST = {
    "DATACAT_WEBHOOK_POLL_S": "0.05",
    "DATACAT_WEBHOOK_BACKOFF_S": "0.05",
    "DATACAT_WEBHOOK_MAX_ATTEMPTS": "3",
    "DATACAT_SWEEP_INTERVAL_S": "0.1",
    "DATACAT_PUBLIC_URL": "https://datacat.example/",
}
FINGERPRINTS = "fingerprint" in LogEvent.__dataclass_fields__


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return dict(orjson.loads(self.body))


@dataclass
class Receiver:
    """Records requests; answers 500 to the first ``failures`` ones, then 200."""

    url: str = ""
    failures: int = 0
    always_fail: bool = False
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, item: Received) -> int:
        with self.lock:
            self.received.append(item)
            failing = self.always_fail or len(self.received) <= self.failures
        return 500 if failing else 200

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [item.json for item in self.received]

    def of(self, kind: str, session_id: str | None = None) -> list[Received]:
        with self.lock:
            return [
                item
                for item in self.received
                if item.json["kind"] == kind
                and (session_id is None or item.json.get("session_id") == session_id)
            ]


@contextmanager
def receiving(**options: Any) -> Iterator[Receiver]:
    receiver = Receiver(**options)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = receiver.record(Received(dict(self.headers.items()), body))
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"no" if status >= 400 else b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def hooks_cli(database_url: str, *args: str) -> Ran:
    """``datacat hooks ...`` through the command's own ``main``, in this process (a
    subprocess per call made the suite several times slower)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["hooks", *args, "--database-url", database_url])
    return Ran(code, out.getvalue(), err.getvalue())


@pytest.fixture(autouse=True)
def _own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command exports --database-url as DATACAT_DATABASE_URL: undone after each test."""
    monkeypatch.setenv("DATACAT_DATABASE_URL", "unset")


def listed(database_url: str) -> list[list[str]]:
    """``hooks list`` rows, split on blanks: ID URL ON PRODUCT DELIVERED PENDING FAILED
    and the last error's words."""
    return [line.split() for line in hooks_cli(database_url, "list").stdout.splitlines()[1:]]


@dataclass
class AddedHook:
    id: int
    secret: str


def add_hook(database_url: str, url: str, on: str, *extra: str) -> AddedHook:
    done = hooks_cli(database_url, "add", url, "--on", on, *extra)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    return AddedHook(int(lines["id"]), lines["secret"])


def assert_signed(item: Received, secret: str) -> None:
    expected = "sha256=" + hmac.new(secret.encode(), item.body, hashlib.sha256).hexdigest()
    assert item.headers["X-Datacat-Signature"] == expected
    assert item.headers["X-Datacat-Timestamp"].isdigit()
    assert item.headers["Content-Type"] == "application/json"


class Api:
    def __init__(self, server: ServerProcess) -> None:
        self.http = httpx.Client(base_url=server.url, timeout=10)

    def session(self, **fields: Any) -> str:
        response = self.http.post("/api/sessions", json=fields)
        assert response.status_code == 200, response.text
        return str(response.json()["session_id"])

    def event(self, session_id: str, name: str, data: Any = None) -> None:
        response = self.http.post(
            f"/api/sessions/{session_id}/events", json={"name": name, "data": data}
        )
        assert response.status_code == 200, response.text

    def end(self, session_id: str, crashed: bool = False) -> None:
        body = {"status": "crashed"} if crashed else {}
        response = self.http.post(f"/api/sessions/{session_id}/end", json=body)
        assert response.status_code == 200, response.text

    def status(self, session_id: str) -> str:
        return str(self.http.get(f"/api/sessions/{session_id}").json()["status"])

    def crash(self, **fields: Any) -> str:
        session_id = self.session(**fields)
        self.end(session_id, crashed=True)
        return session_id


@pytest.fixture
def database(backend: str, tmp_path: Path) -> Iterator[str]:
    with fresh_database(backend, tmp_path, "webhooks") as url:
        yield url


def test_each_trouble_is_delivered_once_and_signed(database: str) -> None:
    with receiving() as receiver:
        hook = add_hook(database, receiver.url, "crashed,hung,abandoned,new_exception")
        with datacat_server(database, env=FAST) as server:
            api = Api(server)
            crashed = api.session(product="shop", version="1.2", host="web-1")
            api.end(crashed, crashed=True)
            api.end(crashed, crashed=True)  # still crashed: no second delivery
            hung = api.session(product="shop")
            api.event(hung, "application_appears_hung")
            api.event(hung, "application_recovered")
            api.event(hung, "application_appears_hung")  # hung again: still one delivery
            abandoned = api.session(product="shop", heartbeat_timeout=0.2)
            eventually(lambda: api.status(abandoned), "abandoned")
            api.http.post(f"/api/sessions/{abandoned}/heartbeat")  # back to active ...
            eventually(lambda: api.status(abandoned), "abandoned")  # ... and abandoned again
            ended = api.session(product="shop")
            api.end(ended)  # a clean end is not trouble
            raising = api.session(product="shop", version="1.3")
            error = {"type": "KeyError", "message": "'sku-17' missing"}
            api.event(raising, "exception", error)
            api.event(raising, "exception", {"type": "KeyError", "message": "'sku-4' missing"})
            api.event(api.session(product="shop"), "exception", error)  # same group
            eventually(lambda: len(receiver.of("crashed")) + len(receiver.of("hung")), 2)
            eventually(lambda: len(receiver.of("abandoned")), 1)
            if FINGERPRINTS:
                eventually(lambda: len(receiver.of("new_exception")), 1)
            sentinel = api.crash(product="shop")
            eventually(lambda: len(receiver.of("crashed", sentinel)), 1)

    kinds = sorted(body["kind"] for body in receiver.bodies())
    expected = ["abandoned", "crashed", "crashed", "hung"]
    assert kinds == sorted(expected + (["new_exception"] if FINGERPRINTS else []))
    for item in receiver.received:
        assert_signed(item, hook.secret)
    first = receiver.of("crashed", crashed)[0].json
    assert first["text"].startswith("datacat: shop 1.2 session ")
    assert f"https://datacat.example/sessions/{crashed}" in first["text"]
    assert {key: first[key] for key in ("session_id", "product", "version", "host", "status")} == {
        "session_id": crashed,
        "product": "shop",
        "version": "1.2",
        "host": "web-1",
        "status": "crashed",
    }
    assert first["url"] == f"https://datacat.example/sessions/{crashed}"
    assert receiver.of("hung", hung)[0].json["status"] == "hung"
    assert receiver.of("abandoned", abandoned)[0].json["session_id"] == abandoned
    if FINGERPRINTS:
        news = receiver.of("new_exception")[0].json
        assert news["session_id"] == raising and news["version"] == "1.3"
        assert news["exception"] == {"type": "KeyError", "message": "'sku-17' missing"}
        assert len(news["fingerprint"]) == 32


@pytest.mark.skipif(not FINGERPRINTS, reason="needs exception fingerprints at ingest (issue 12)")
def test_a_group_seen_before_is_not_new(database: str) -> None:
    """A group that existed before the hook (never announced to it) stays old, and a group
    logged again and again is announced once."""
    old = {"type": "TimeoutError", "message": "upstream took 31 s"}
    fresh = {"type": "ZeroDivisionError", "message": "division by zero"}
    with receiving() as receiver, datacat_server(database, env=FAST) as server:
        api = Api(server)
        api.event(api.session(product="shop"), "exception", old)
        hook = add_hook(database, receiver.url, "new_exception")
        seen_again = api.session(product="shop")
        api.event(seen_again, "exception", {**old, "message": "upstream took 45 s"})
        firsts = api.session(product="shop", version="2.0")
        for _ in range(3):
            api.event(firsts, "exception", fresh)
        eventually(lambda: len(receiver.of("new_exception")), 1)
        sentinel = api.session(product="shop")
        api.event(sentinel, "exception", {"type": "OSError", "message": "disk full"})
        eventually(lambda: len(receiver.of("new_exception", sentinel)), 1)
    bodies = receiver.bodies()
    assert [body["session_id"] for body in bodies] == [firsts, sentinel]
    assert bodies[0]["exception"] == fresh and bodies[0]["version"] == "2.0"
    assert_signed(receiver.received[0], hook.secret)


def test_a_failing_receiver_gets_it_on_the_third_try(database: str) -> None:
    with receiving(failures=2) as flaky, receiving(always_fail=True) as broken:
        add_hook(database, flaky.url, "crashed")
        add_hook(database, broken.url, "crashed")
        with datacat_server(database, env=FAST) as server:
            crashed = Api(server).crash()
            eventually(lambda: len(flaky.received), 3)
            eventually(lambda: len(broken.received), 3)  # DATACAT_WEBHOOK_MAX_ATTEMPTS
            counts = [["1", "0", "0"], ["0", "0", "1"]]  # DELIVERED PENDING FAILED per hook
            eventually(lambda: [row[4:7] for row in listed(database)], counts)
            listing = listed(database)
            sentinel = Api(server).crash()
            eventually(lambda: len(flaky.of("crashed", sentinel)), 1)
    assert [item.json["session_id"] for item in flaky.received[:3]] == [crashed] * 3
    assert len(flaky.of("crashed", crashed)) == 3  # two refused, one taken, no fourth
    assert len(broken.of("crashed", crashed)) == 3  # given up after three
    bodies = {item.body for item in flaky.of("crashed", crashed)}
    assert len(bodies) == 1  # every retry sends the same bytes
    assert listing[0][7:] == []  # delivered in the end: no error left to show
    assert " ".join(listing[1][7:]).startswith("HTTP 500: no")


def test_a_transition_survives_kill_9_before_delivery(database: str, tmp_path: Path) -> None:
    with receiving() as receiver:
        hook = add_hook(database, receiver.url, "crashed")
        asleep = {**FAST, "DATACAT_WEBHOOK_POLL_S": "3600"}  # never gets round to sending
        with datacat_server(database, env=asleep) as server:
            api = Api(server)
            crashed = api.crash(product="kept")
            assert api.status(crashed) == "crashed"  # committed, with its journal entry
            server.stop()  # SIGKILL
        assert receiver.received == []
        with datacat_server(database, env=FAST) as server:
            eventually(lambda: len(receiver.of("crashed", crashed)), 1)
            sentinel = Api(server).crash()
            eventually(lambda: len(receiver.of("crashed", sentinel)), 1)
    assert len(receiver.of("crashed", crashed)) == 1
    assert_signed(receiver.received[0], hook.secret)


def test_two_workers_send_each_delivery_once(database: str) -> None:
    """Both workers run the delivery loop on one database: each claim is exclusive."""
    with receiving() as receiver:
        add_hook(database, receiver.url, "crashed,hung")
        with datacat_server(database, "--workers", "2", env=FAST) as server:
            api = Api(server)
            crashed = [api.crash(product="pair") for _ in range(8)]
            hung = api.session(product="pair")
            api.event(hung, "application_appears_hung")
            eventually(lambda: len(receiver.received), 9)
            sentinel = api.crash(product="pair")
            eventually(lambda: len(receiver.of("crashed", sentinel)), 1)
    sent = sorted(body["session_id"] for body in receiver.bodies())
    assert sent == sorted([*crashed, hung, sentinel])


def test_product_filter(database: str) -> None:
    with receiving() as receiver:
        add_hook(database, receiver.url, "crashed", "--product", "wanted")
        with datacat_server(database, env=FAST) as server:
            api = Api(server)
            other = api.crash(product="other")
            unnamed = api.crash()
            wanted = api.crash(product="wanted")
            eventually(lambda: len(receiver.of("crashed", wanted)), 1)
            last = api.crash(product="wanted")
            eventually(lambda: len(receiver.of("crashed", last)), 1)
    assert [body["session_id"] for body in receiver.bodies()] == [wanted, last]
    assert other not in str(receiver.bodies()) and unnamed not in str(receiver.bodies())


def test_hooks_cli_round_trip(database: str) -> None:
    with receiving() as receiver:
        refused = hooks_cli(database, "add", receiver.url, "--on", "crashed,exploded")
        assert refused.returncode == 1 and "unknown kind 'exploded'" in refused.stderr
        refused = hooks_cli(database, "add", "ftp://example.com/x", "--on", "crashed")
        assert refused.returncode == 1 and "http:// or https://" in refused.stderr
        assert hooks_cli(database, "list").stdout.splitlines()[1:] == []

        hook = add_hook(database, receiver.url, "hung,crashed", "--product", "shop")
        assert hook.secret.startswith("whsec_")
        listing = hooks_cli(database, "list").stdout.splitlines()
        assert listing[0].split() == [
            "ID", "URL", "ON", "PRODUCT", "DELIVERED", "PENDING", "FAILED", "LAST", "ERROR",
        ]  # fmt: skip
        assert listing[1].split() == [str(hook.id), receiver.url, "crashed,hung", "shop",
                                      "0", "0", "0"]  # fmt: skip
        assert hook.secret not in "\n".join(listing)

        tested = hooks_cli(database, "test", str(hook.id))
        assert tested.returncode == 0, tested.stderr
        assert tested.stdout.strip() == f"{receiver.url} answered 200"
        (sent,) = receiver.received
        assert_signed(sent, hook.secret)
        assert sent.json["kind"] == "test" and sent.json["hook_id"] == hook.id

        removed = hooks_cli(database, "remove", str(hook.id))
        assert removed.returncode == 0 and removed.stdout.strip() == f"removed hook {hook.id}"
        assert hooks_cli(database, "list").stdout.splitlines()[1:] == []
        again = hooks_cli(database, "remove", str(hook.id))
        assert again.returncode == 1 and f"no hook with id {hook.id}" in again.stderr
        missing = hooks_cli(database, "test", str(hook.id))
        assert missing.returncode == 1 and f"no hook with id {hook.id}" in missing.stderr


def test_hooks_test_reports_a_refusing_receiver(database: str) -> None:
    with receiving(always_fail=True) as receiver:
        hook = add_hook(database, receiver.url, "crashed")
        tested = hooks_cli(database, "test", str(hook.id))
    assert tested.returncode == 1 and "HTTP 500" in tested.stderr


# -- the pure rules -------------------------------------------------------------------


def test_backoff_doubles_to_a_cap_and_gives_up() -> None:
    retry = rules.Retry(base_s=10, cap_s=35, max_attempts=5)
    delays = [retry.next_attempt_us(attempts, 0) for attempts in range(1, 6)]
    assert delays == [10_000_000, 20_000_000, 35_000_000, 35_000_000, None]


def test_kinds_are_parsed_in_a_fixed_order() -> None:
    assert rules.parse_kinds(" new_exception, crashed ,crashed") == ("crashed", "new_exception")
    with pytest.raises(ValueError, match="name at least one kind"):
        rules.parse_kinds(" , ")


def test_signature_is_github_style_hmac() -> None:
    # From Python's hmac module, independently of webhookrules.
    body = b'{"kind":"test"}'
    digest = hmac.new(b"whsec_k", body, hashlib.sha256).hexdigest()
    assert rules.signature("whsec_k", body) == f"sha256={digest}"
    assert rules.headers("whsec_k", body, 1_700_000_000_123_456, 7)["X-Datacat-Timestamp"] == (
        "1700000000"
    )


async def test_a_failing_pass_logs_one_traceback_then_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The database failing every pass (here: the hooks table gone) gives one traceback,
    then a warning line per pass, and a line when passes work again."""
    from sqlalchemy import text

    from datacat import webhooks
    from datacat.settings import Settings
    from datacat.store.migrate import upgrade
    from datacat.store.repository import Repository

    monkeypatch.setenv("DATACAT_WEBHOOK_POLL_S", "0.01")
    repo = Repository.from_url(f"sqlite+aiosqlite:///{tmp_path / 'loop.db'}")
    await upgrade(repo.engine)
    await repo.start()
    async with repo.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE webhooks RENAME TO webhooks_away"))
    caplog.set_level("INFO", logger="datacat.webhooks")
    loop = asyncio.create_task(webhooks.run(repo, Settings()))

    async def logged(level: str, at_least: int) -> list[logging.LogRecord]:
        for _ in range(2000):
            found = [r for r in caplog.records if r.levelname == level]
            if len(found) >= at_least:
                return found
            await asyncio.sleep(0.01)
        levels = [r.levelname for r in caplog.records]
        raise AssertionError(f"fewer than {at_least} {level} records: {levels[:20]}")

    try:
        await logged("WARNING", 3)
        async with repo.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE webhooks_away RENAME TO webhooks"))
        (recovered,) = await logged("INFO", 1)
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
        await repo.close()
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert recovered.getMessage() == "webhook delivery passes work again"


async def test_retention_forgets_settled_deliveries_only(
    fresh_repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deliveries settled (delivered or given up) before a cutoff are deleted, pending ones
    kept; with DATACAT_RETENTION_DAYS the loop applies it (through the store's own steps,
    on both backends)."""
    from datacat import webhooks
    from datacat.settings import Settings
    from datacat.store.hooks import Outcome
    from datacat.store.ops import CreateSession, EndSession

    store = fresh_repo.hooks

    async def crash() -> str:
        session_id = await fresh_repo.create_session(CreateSession(fresh_repo.new_session_id()))
        await fresh_repo.write(EndSession(session_id, crashed=True))
        return session_id

    async def counts() -> tuple[int, int, int]:
        (summary,) = await store.summaries()
        return summary.delivered, summary.pending, summary.failed

    async def settled_one(error: str | None) -> None:
        await crash()
        assert await store.fan_out(await store.hooks(), None) == 1
        (claimed,) = await store.claim(lease_us=3_600_000_000, limit=10)
        await store.settle([Outcome(claimed, 500 if error else 200, error)], give_up_at_once)

    give_up_at_once = rules.Retry(max_attempts=1)
    await store.add("http://127.0.0.1:9/refused", ["crashed"], None)
    await settled_one(None)
    await settled_one("HTTP 500")
    await crash()  # pending, due now
    assert await store.fan_out(await store.hooks(), None) == 1
    assert await counts() == (1, 1, 1)
    assert await store.forget(now_us() - 3_600_000_000) == 0  # settled less than an hour ago
    assert await store.forget(now_us() + 1) == 2
    assert await counts() == (0, 1, 0)

    (pending,) = await store.claim(lease_us=3_600_000_000, limit=10)
    await store.settle([Outcome(pending, 200, None)], give_up_at_once)
    assert await counts() == (1, 0, 0)
    monkeypatch.setenv("DATACAT_WEBHOOK_POLL_S", "0.01")
    loop = asyncio.create_task(webhooks.run(fresh_repo, Settings(retention_days=1e-9)))
    try:
        for _ in range(2000):
            if await counts() == (0, 0, 0):
                break
            await asyncio.sleep(0.01)
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    assert await counts() == (0, 0, 0)
