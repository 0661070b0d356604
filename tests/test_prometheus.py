"""``GET /-/metrics`` scraped from a real ``datacat serve``, parsed by prometheus_client.

Every count is checked against the requests this test made (the scrape's own request is
counted only after it answers, so it never counts itself): by route template, never by
raw path, on both the fast path and FastAPI; latency histograms consistent with the
counts; rows written; sessions by product and status with the long tail folded into
``other``; the database's size. With ``--workers 2`` the scrape adds up both workers.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from tempfile import gettempdir

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from datacat.store import tables
from datacat.store.database import create_engine
from datacat.store.migrate import upgrade_url
from datacat.store.vitals import RELEASE_WINDOW_US, read_vitals
from datacat.timefmt import now_us
from support import BACKENDS, datacat_server, eventually, fresh_database
from support.auth import bearer, create_key

EVENTS = "/api/sessions/{session_id}/events"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str, headers: dict[str, str] | None = None) -> Samples:
    """Every sample of a scrape by (name, sorted labels); fails unless it parses."""
    answer = httpx.get(f"{url}/-/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in samples, f"sample {key} appears twice"
            samples[key] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def requests_of(samples: Samples) -> Counter[tuple[str, str, str]]:
    """datacat_http_requests_total as (method, route, status) → count."""
    found: Counter[tuple[str, str, str]] = Counter()
    for (name, labels), count in samples.items():
        if name == "datacat_http_requests_total":
            found[dict(labels)["method"], dict(labels)["route"], dict(labels)["status"]] = int(
                count
            )
    return found


@pytest.fixture(scope="module", params=BACKENDS)
def server_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp(f"prometheus-{request.param}")
    env = {
        "DATACAT_METRICS_TOP_PRODUCTS": "2",
        "DATACAT_METRICS_TOP_RELEASES": "2",
        "DATACAT_SWEEP_INTERVAL_S": "0.2",
    }
    with (
        fresh_database(request.param, folder, "prometheus") as database_url,
        datacat_server(database_url, env=env) as server,
    ):
        yield server.url


def test_a_scrape_counts_every_request_by_route_template_and_status(server_url: str) -> None:
    url = server_url
    made: Counter[tuple[str, str, str]] = Counter()

    def call(method: str, path: str, route: str, json: object = None) -> httpx.Response:
        answer = httpx.request(method, url + path, json=json)
        made[method, route, str(answer.status_code)] += 1
        return answer

    # Products: a 3 times, b twice, c and d once, one without; the top two keep their names.
    sessions: dict[str, list[str]] = {}
    for product, count in (("a", 3), ("b", 2), ("c", 1), ("d", 1), (None, 1)):
        version = "1.0" if product in ("a", "b") else "0.9"
        body = {"product": product, "version": version} if product else None
        for _ in range(count):
            created = call("POST", "/api/sessions", "/api/sessions", body)
            sessions.setdefault(product or "", []).append(created.json()["session_id"])
    first = sessions["a"][0]
    for i in range(5):  # the fast path
        call("POST", f"/api/sessions/{first}/events", EVENTS, {"name": "e", "data": i})
    call(
        "POST",
        f"/api/sessions/{first}/metrics",
        "/api/sessions/{session_id}/metrics",
        {"name": "m", "value": 1.5},
    )
    call("GET", f"/api/sessions/{first}/events", EVENTS)  # FastAPI: the same template
    call("POST", f"/api/sessions/{first}/events", EVENTS, {"data": "no name"})  # 422
    call("POST", "/api/sessions/no-such-session/events", EVENTS, {"name": "e"})  # 404
    call(
        "POST",
        f"/api/sessions/{sessions['c'][0]}/end",
        "/api/sessions/{session_id}/end",
        {"status": "crashed"},
    )
    call("GET", "/no/such/page/here", "unmatched")

    samples = scrape(url)
    counted = requests_of(samples)
    assert counted.pop(("GET", "/readyz", "200")) >= 1, "the harness waited for readiness"
    assert counted == made, "every request made, under its route template and status"
    assert made["POST", EVENTS, "422"] == 1 and made["POST", EVENTS, "404"] == 1
    assert not any(first in route or "no-such" in route for _, route, _ in counted)

    for method, route in {(m, r) for m, r, _ in made}:
        labels = {"method": method, "route": route}
        count = value(samples, "datacat_http_request_duration_seconds_count", **labels)
        assert count == sum(n for (m, r, _), n in made.items() if (m, r) == (method, route))
        infinite = value(
            samples, "datacat_http_request_duration_seconds_bucket", le="+Inf", **labels
        )
        assert infinite == count
        assert value(samples, "datacat_http_request_duration_seconds_sum", **labels) > 0

    assert value(samples, "datacat_rows_written_total", table="events") == 5
    assert value(samples, "datacat_rows_written_total", table="metrics") == 1
    writes = sum(n for (m, _, s), n in made.items() if m == "POST" and s == "200")
    # The write naming an unknown session went through a group too (found missing there).
    assert value(samples, "datacat_writer_group_ops_sum") == writes + 1
    assert 1 <= value(samples, "datacat_writer_group_ops_count") <= writes + 1
    assert ("datacat_writer_queue_depth", ()) in samples

    sessions_by = {
        (dict(labels)["product"], dict(labels)["status"]): n
        for (name, labels), n in samples.items()
        if name == "datacat_sessions"
    }
    assert {product for product, _ in sessions_by} == {"a", "b", "other"}
    assert sessions_by["a", "active"] == 3 and sessions_by["b", "active"] == 2
    assert sessions_by["other", "active"] == 2  # d and the one without a product
    assert sessions_by["other", "crashed"] == 1  # c
    assert sessions_by["a", "hung"] == 0, "every status of a named product, zeros too"
    # The two releases with the latest activity: c 0.9 (ended last), then a 1.0.
    releases = {
        (dict(labels)["product"], dict(labels)["version"], dict(labels)["status"]): n
        for (name, labels), n in samples.items()
        if name == "datacat_release_sessions_24h"
    }
    assert {(p, v) for p, v, _ in releases} == {("c", "0.9"), ("a", "1.0")}
    assert releases["c", "0.9", "crashed"] == 1 and releases["c", "0.9", "ended"] == 0
    assert releases["a", "1.0", "active"] == 3 and releases["a", "1.0", "crashed"] == 0
    assert value(samples, "datacat_database_up") == 1
    assert value(samples, "datacat_database_size_bytes") > 10_000

    # The next scrape counts the previous one, under its own route.
    assert requests_of(scrape(url))["GET", "/-/metrics", "200"] >= 1


def test_the_sweeper_runs_are_counted(server_url: str) -> None:
    eventually(lambda: value(scrape(server_url), "datacat_sweeper_runs_total", outcome="ok") >= 2)


def test_the_web_uis_metrics_page_is_still_its_own(server_url: str) -> None:
    page = httpx.get(f"{server_url}/metrics")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "datacat_http_requests_total" not in page.text


async def _spread(url: str, posts: int) -> Counter[str]:
    """``posts`` event writes over many connections, so both workers answer some."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=0)
    answered: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=url) as opener:
        session_id = (await opener.post("/api/sessions")).json()["session_id"]
    clients = [httpx.AsyncClient(base_url=url, limits=limits) for _ in range(16)]

    async def one(client: httpx.AsyncClient, count: int) -> None:
        for i in range(count):
            answer = await client.post(f"/api/sessions/{session_id}/events", json={"name": f"e{i}"})
            assert answer.status_code == 200
            answered[answer.headers["x-datacat-worker"]] += 1

    try:
        await asyncio.gather(*(one(c, posts // len(clients)) for c in clients))
    finally:
        for client in clients:
            await client.aclose()
    return answered


def test_two_workers_are_summed_and_their_files_removed(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'workers.db'}"
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    orphan = Path(gettempdir()) / f"datacat-prometheus-{gone.stdout.strip()}-left"
    orphan.mkdir()  # what a server killed outright leaves behind
    server = datacat_server(database_url, "--workers", "2", env={"DATACAT_WORKER_HEADER": "1"})
    with server:
        files = list(Path(gettempdir()).glob(f"datacat-prometheus-{server.pid}-*"))
        assert len(files) == 1 and files[0].is_dir(), "one fresh directory for this start"
        assert not orphan.exists(), "a dead server's directory is removed at the next start"
        answered = asyncio.run(_spread(server.url, 320))
        assert len(answered) == 2, f"both workers answered: {answered}"

        def events_counted() -> float:
            return value(
                scrape(server.url),
                "datacat_http_requests_total",
                method="POST",
                route=EVENTS,
                status="200",
            )

        # Whichever worker answers the scrape, it sums both (the other's within a second).
        eventually(events_counted, 320.0)
        eventually(
            lambda: value(scrape(server.url), "datacat_rows_written_total", table="events"),
            320.0,
        )
        server.stop(grace_s=30)
    assert not files[0].exists(), "a clean stop removes the start's directory"


def test_with_auth_on_a_scrape_needs_a_read_key(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'keyed.db'}"
    keys = {scope: create_key(database_url, scope) for scope in ("ingest", "read", "admin")}
    with datacat_server(database_url) as server:
        refused = httpx.get(f"{server.url}/-/metrics")
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert refused.headers["x-request-id"], "refused before routing, still identified"
        wrong = httpx.get(f"{server.url}/-/metrics", headers=bearer(keys["ingest"]))
        assert wrong.status_code == 403 and "read" in wrong.json()["detail"]
        scraped = scrape(server.url, bearer(keys["read"]))
        counted = requests_of(scraped)
        assert counted["GET", "/-/metrics", "401"] == 1 and counted["GET", "/-/metrics", "403"] == 1
        assert scrape(server.url, bearer(keys["admin"]))


def test_the_scrape_is_documented_with_its_answers() -> None:
    from datacat.app import create_app
    from datacat.settings import Settings

    schema = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:")).openapi()
    operation = schema["paths"]["/-/metrics"]["get"]
    assert {"200", "401", "403"} <= set(operation["responses"])
    assert operation["security"] == [{"bearer": []}]
    content = operation["responses"]["200"]["content"]
    assert (
        "datacat_http_requests_total"
        in content["text/plain; version=0.0.4; charset=utf-8"]["example"]
    )


async def test_release_counts_cover_the_last_day_only(backend: str, tmp_path: Path) -> None:
    now = now_us()
    old = now - RELEASE_WINDOW_US - 60_000_000
    with fresh_database(backend, tmp_path, "releases_window") as database_url:
        await upgrade_url(database_url)
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    tables.sessions.insert(),
                    [
                        _session_row(f"s{i}", created, status)
                        for i, (created, status) in enumerate(
                            [(old, "crashed"), (old, "crashed"), (now, "crashed"), (now, "ended")]
                        )
                    ],
                )
            vitals = await read_vitals(engine, top=5, top_releases=5)
        finally:
            await engine.dispose()
    assert vitals.releases["app", "1.0", "crashed"] == 1, "the two crashed a day ago left out"
    assert vitals.releases["app", "1.0", "ended"] == 1
    assert vitals.sessions["app", "crashed"] == 3, "sessions by product count them all"


def _session_row(session_id: str, created_us: int, status: str) -> dict[str, object]:
    return {
        "id": session_id,
        "created_us": created_us,
        "updated_us": created_us,
        "ended_us": created_us,
        "last_seen_us": created_us,
        "active": False,
        "status": status,
        "state": {},
        "product": "app",
        "version": "1.0",
    }


async def test_an_exception_that_escapes_is_counted_as_the_500_it_answers(
    tmp_path: Path,
) -> None:
    """In-process (a real server has no route that raises): the test adds one."""
    from datacat import promstats
    from datacat.app import create_app
    from datacat.settings import Settings

    application = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'e.db'}"))

    async def boom() -> None:
        raise RuntimeError("boom")

    application.add_api_route("/boom/{anything}", boom)
    labels = {"method": "GET", "route": "/boom/{anything}", "status": "500"}
    before = promstats.REGISTRY.get_sample_value("datacat_http_requests_total", labels) or 0
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=transport, base_url="http://datacat") as client,
    ):
        answer = await client.get("/boom/1", headers={"X-Request-ID": "boom-1"})
    assert answer.status_code == 500 and answer.headers["x-request-id"] == "boom-1"
    promstats.REQUEST_STATS.flush()
    after = promstats.REGISTRY.get_sample_value("datacat_http_requests_total", labels)
    assert after == before + 1
