"""Grafana, ready to use (issue 13): every panel of ``deploy/grafana`` gets rows of its types.

No Grafana runs here; the test does what Grafana and its Infinity plugin would do with the
provisioned files, against a real ``datacat serve`` with auth on (a read key, as the
datasource's header sends it) on SQLite and PostgreSQL:

1. read the datasource from ``provisioning/datasources/datacat.yaml`` (Grafana's ``$VAR`` /
   ``${VAR}`` environment expansion applied), the dashboard from ``dashboards/datacat.json``;
2. run the ``$product`` variable's Infinity query and pick the seeded product from it; the
   other variables take the dashboard's own defaults (the seed README's "peak memory for
   sessions with the space probe window open");
3. for each panel target (type json, source url): substitute ``$var``, ``${var}``,
   ``${__from}``/``${__to}`` (ms) and ``${__from:date:iso}``, prefix the datasource URL, send
   ``url_options.params`` and the datasource headers, apply ``root_selector`` and ``columns``;
4. assert rows exist, every column's values have the declared type, and what they say
   matches the seeded data (so a panel reading the wrong field or filter fails too).

Infinity's JSON parsers (frontend "simple" and "backend") both read a root selector that is
one key or a dotted path (lodash ``get`` / GJSON): this test implements that subset only
(dotted keys, numeric list indexes), and every selector the dashboard uses is within it.

``GET /api/grafana/status_series`` is also checked on its own against a Python model of
sessions placed at known times (buckets, zeros, filters, 422s) on both backends.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
import yaml
from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine

from datacat.store.seriesquery import Bucket
from datacat.store.statusseries import MAX_BUCKETS, StatusSeriesQuery, filled, plan
from datacat.store.tables import sessions
from datacat.timefmt import to_rfc3339
from support import BACKENDS, fresh_database, serve
from support.auth import bearer, create_key

ROOT = Path(__file__).resolve().parents[1]
GRAFANA = ROOT / "deploy" / "grafana"
DATASOURCE_YAML = GRAFANA / "provisioning" / "datasources" / "datacat.yaml"
PROVIDER_YAML = GRAFANA / "provisioning" / "dashboards" / "datacat.yaml"
DASHBOARD_JSON = GRAFANA / "dashboards" / "datacat.json"
COMPOSE = ROOT / "docker-compose.yml"
PLUGIN = "yesoreyeram-infinity-datasource"
STATUSES = ("active", "ended", "hung", "crashed", "abandoned")
PRODUCT = "grafana-demo"


# -- what Grafana and Infinity do with the files -------------------------------------------


def expand_env(text: str, env: dict[str, str]) -> str:
    """Grafana's provisioning expansion: ``$NAME`` and ``${NAME}``, unset reads as empty."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), text)


def load_datasource(env: dict[str, str]) -> dict[str, Any]:
    document = yaml.safe_load(expand_env(DATASOURCE_YAML.read_text(), env))
    (source,) = document["datasources"]
    return dict(source)


def datasource_headers(source: dict[str, Any]) -> dict[str, str]:
    """Infinity's custom headers: ``httpHeaderNameN`` in jsonData, its value in secureJsonData."""
    headers = {}
    for key, name in source.get("jsonData", {}).items():
        found = re.fullmatch(r"httpHeaderName(\d+)", key)
        if found:
            headers[name] = source["secureJsonData"][f"httpHeaderValue{found.group(1)}"]
    return headers


def iso_ms(ms: int) -> str:
    """JavaScript's ``toISOString``: what ``${__from:date:iso}`` gives."""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


VARIABLE = re.compile(r"\$\{(\w+)(?::([^}]+))?\}|\$(\w+)")


def interpolate(text: str, values: dict[str, str], range_ms: tuple[int, int]) -> str:
    """Grafana's template syntax as the dashboard uses it; anything unknown fails loudly."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        form = match.group(2)
        if name in ("__from", "__to"):
            ms = range_ms[0] if name == "__from" else range_ms[1]
            if form is None:
                return str(ms)
            assert form == "date:iso", f"unsupported format {form!r} of {name}"
            return iso_ms(ms)
        assert form is None, f"unsupported format {form!r} of ${name}"
        assert name in values, f"${name} is not a variable of the dashboard"
        return values[name]

    return VARIABLE.sub(one, text)


def select(node: Any, path: str) -> Any:
    """The dotted-path subset of Infinity's selectors: ``a.b.0.c``; empty is the node."""
    for part in path.split(".") if path else []:
        if isinstance(node, list) and part.isdigit():
            node = node[int(part)] if int(part) < len(node) else None
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    return node


def is_type(value: Any, declared: str) -> bool:
    if declared == "string":
        return isinstance(value, str)
    if declared == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if declared == "timestamp":
        if not isinstance(value, str):
            return False
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
        return True
    if declared in ("timestamp_epoch", "timestamp_epoch_s"):
        return isinstance(value, int) and not isinstance(value, bool)
    raise AssertionError(f"column type {declared!r} is not one Infinity has")


@dataclass
class Grafana:
    """The datasource as Grafana would run it, against a real datacat."""

    base: str
    headers: dict[str, str]
    values: dict[str, str]
    range_ms: tuple[int, int]

    def request(self, target: dict[str, Any]) -> httpx.Response:
        assert target["type"] == "json" and target["source"] == "url", target
        options = target.get("url_options", {})
        assert options.get("method", "GET") == "GET"
        url = interpolate(target["url"], self.values, self.range_ms)
        assert url.startswith("/"), "panel URLs are relative: the datasource URL is prefixed"
        params = [
            (p["key"], interpolate(p["value"], self.values, self.range_ms))
            for p in options.get("params", [])
        ]
        return httpx.get(self.base + url, params=params, headers=self.headers, timeout=30)

    def frame(self, target: dict[str, Any]) -> list[dict[str, Any]]:
        """Rows keyed by column text, after root selector and columns, types checked."""
        answer = self.request(target)
        assert answer.status_code == 200, (target["url"], answer.status_code, answer.text)
        rows = select(answer.json(), target["root_selector"])
        rows = [rows] if isinstance(rows, dict) else rows
        assert isinstance(rows, list), f"{target['root_selector']!r} is not rows"
        frame = []
        for row in rows:
            out = {}
            for column in target["columns"]:
                value = select(row, column["selector"])
                assert is_type(value, column["type"]), (target["url"], column, value)
                out[column["text"]] = value
            frame.append(out)
        return frame


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD_JSON.read_text())
    return loaded


def variables(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in board["templating"]["list"]}


def default_value(variable: dict[str, Any]) -> str:
    return str(variable.get("current", {}).get("value", variable.get("query", "")))


def panels() -> dict[str, dict[str, Any]]:
    return {p["title"]: p for p in dashboard()["panels"]}


# -- the seeded server ------------------------------------------------------------------

MATCHING_MEMORY = (50.0, 62.5, 80.0)
"""memory_usage of sessions with the "space probe" window open; the others log over 1000,
so any bucket's value above 100 means the state filter was not applied."""
OTHER_MEMORY = (1000.0, 1500.0)


@dataclass(frozen=True)
class Seeded:
    product: str
    versions: dict[str, dict[str, int]]
    """Per version: sessions in each status."""
    exception_type: str


def seed(http: httpx.Client, product: str) -> Seeded:
    def ok(response: httpx.Response) -> Any:
        assert response.status_code == 200, response.text
        return response.json()

    plan = [
        ("1.0", "ended", ["space probe", "editor"], MATCHING_MEMORY[0]),
        ("1.0", "ended", ["editor"], OTHER_MEMORY[0]),
        ("1.0", "crashed", ["space probe"], MATCHING_MEMORY[1]),
        ("1.1", "ended", ["space probe"], MATCHING_MEMORY[2]),
        ("1.1", "active", ["console"], OTHER_MEMORY[1]),
    ]
    versions: dict[str, dict[str, int]] = {}
    for version, outcome, windows, memory in plan:
        made = ok(http.post("/api/sessions", json={"product": product, "version": version}))
        sid = made["session_id"]
        ok(http.post(f"/api/sessions/{sid}/state", json={"window_state": {"open": windows}}))
        ok(
            http.post(
                f"/api/sessions/{sid}/metrics", json={"name": "memory_usage", "value": memory}
            )
        )
        if outcome == "crashed":
            exception = {
                "type": "ValueError",
                "message": "bad value 42",
                "traceback": [
                    "Traceback (most recent call last):",
                    '  File "/srv/app/probe/worker.py", line 42, in run',
                    "ValueError: bad value 42",
                ],
                "frames": [
                    {
                        "file": "/srv/app/probe/worker.py",
                        "line": 42,
                        "function": "run",
                        "module": "probe.worker",
                        "in_app": True,
                    }
                ],
                "fatal": True,
            }
            ok(
                http.post(
                    f"/api/sessions/{sid}/events", json={"name": "exception", "data": exception}
                )
            )
        if outcome != "active":
            ok(http.post(f"/api/sessions/{sid}/end", json={"status": outcome}))
        counts = versions.setdefault(version, dict.fromkeys(STATUSES, 0))
        counts[outcome] += 1
    return Seeded(product, versions, "ValueError")


@dataclass
class Served:
    grafana: Grafana
    seeded: Seeded
    url: str
    ingest_key: str


@pytest.fixture(scope="module", params=BACKENDS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp(f"grafana-{request.param}")
    with fresh_database(request.param, folder, "grafana") as database_url:
        ingest = create_key(database_url, "ingest", "app")
        read = create_key(database_url, "read", "grafana")
        with serve(database_url) as url:
            with httpx.Client(base_url=url, headers=bearer(ingest)) as http:
                seeded = seed(http, PRODUCT)
            source = load_datasource({"DATACAT_GRAFANA_KEY": read})
            now_ms = int(time.time() * 1000)
            board = dashboard()
            values = {name: default_value(v) for name, v in variables(board).items()}
            grafana = Grafana(
                # The provisioned URL names the compose service; here it is the test server.
                base=url,
                headers=datasource_headers(source),
                values=values,
                range_ms=(now_ms - 3_600_000, now_ms + 300_000),
            )
            product_query = variables(board)["product"]["query"]
            assert product_query["queryType"] == "infinity"
            found = grafana.frame(product_query["infinityQuery"])
            products = [row[product_query["infinityQuery"]["columns"][0]["text"]] for row in found]
            assert PRODUCT in products, products
            grafana.values["product"] = PRODUCT
            yield Served(grafana, seeded, url, ingest)


# -- the files --------------------------------------------------------------------------


def test_the_datasource_is_infinity_on_datacat_with_an_optional_read_key() -> None:
    source = load_datasource({"DATACAT_GRAFANA_KEY": "k123"})
    assert source["type"] == PLUGIN
    assert source["url"] == "http://datacat:8080"
    assert source["url"] in source["jsonData"]["allowedHosts"]
    assert datasource_headers(source) == {"Authorization": "Bearer k123"}
    # Unset: a bare "Bearer" (YAML drops the trailing space), which an open datacat ignores.
    assert datasource_headers(load_datasource({})) == {"Authorization": "Bearer"}


def test_every_panel_and_variable_reads_through_the_provisioned_datasource() -> None:
    uid = load_datasource({})["uid"]
    board = dashboard()
    assert {p["title"] for p in board["panels"]} >= {
        "Sessions by status (by start time)",
        "Crash-free sessions by version",
        "Recent exceptions",
    }
    for panel in board["panels"]:
        assert panel["datasource"] == {"type": PLUGIN, "uid": uid}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid
            assert target["columns"], f"{panel['title']}: a panel declares its columns"
    query = variables(board)["product"]
    assert query["datasource"]["uid"] == uid


def test_the_dashboard_provider_and_compose_mount_the_same_folders() -> None:
    provider = yaml.safe_load(PROVIDER_YAML.read_text())
    (only,) = provider["providers"]
    assert only["type"] == "file"
    compose = yaml.safe_load(COMPOSE.read_text())
    grafana = compose["services"]["grafana"]
    assert grafana["profiles"] == ["grafana"]
    assert grafana["environment"]["GF_INSTALL_PLUGINS"] == PLUGIN
    mounts = dict(v.removesuffix(":ro").split(":", 1) for v in grafana["volumes"] if v[:2] == "./")
    assert mounts["./deploy/grafana/dashboards"] == only["options"]["path"]
    assert mounts["./deploy/grafana/provisioning/datasources"] == (
        "/etc/grafana/provisioning/datasources"
    )
    assert mounts["./deploy/grafana/provisioning/dashboards"] == (
        "/etc/grafana/provisioning/dashboards"
    )
    assert "DATACAT_GRAFANA_KEY" in grafana["environment"]
    for source in mounts:
        assert (ROOT / source).is_dir(), source
    # The other services are what they were: datacat is still built and published.
    assert compose["services"]["datacat"]["ports"] == ["8080:8080"]


# -- every panel against the real server ------------------------------------------------


def test_sessions_by_status_panel(served: Served) -> None:
    (target,) = panels()["Sessions by status (by start time)"]["targets"]
    frame = served.grafana.frame(target)
    assert frame
    totals = dict.fromkeys(STATUSES, 0)
    for row in frame:
        totals[row["status"]] += row["count"]
    want = dict.fromkeys(STATUSES, 0)
    for counts in served.seeded.versions.values():
        for status, n in counts.items():
            want[status] += n
    assert totals == want
    # Every bucket answers every status, so Grafana draws zeros, not interpolated lines.
    times = {row["time"] for row in frame}
    assert len(frame) == len(times) * len(STATUSES)


def test_sessions_by_status_panel_with_a_version(served: Served) -> None:
    (target,) = panels()["Sessions by status (by start time)"]["targets"]
    grafana = replace(served.grafana, values={**served.grafana.values, "version": "1.1"})
    totals = dict.fromkeys(STATUSES, 0)
    for row in grafana.frame(target):
        totals[row["status"]] += row["count"]
    assert totals == served.seeded.versions["1.1"]


def test_crash_free_rate_by_version_panel(served: Served) -> None:
    (target,) = panels()["Crash-free sessions by version"]["targets"]
    frame = served.grafana.frame(target)
    got = {row["version"]: row["crash-free"] for row in frame}
    want = {
        version: 1 - counts["crashed"] / sum(counts.values())
        for version, counts in served.seeded.versions.items()
    }
    assert got == pytest.approx(want)


def test_metric_with_a_state_filter_panel(served: Served) -> None:
    (panel,) = [p for p in dashboard()["panels"] if "/api/metrics/series" in p["targets"][0]["url"]]
    (target,) = panel["targets"]
    params = {p["key"] for p in target["url_options"]["params"]}
    assert {"state_mode", "state_path", "state_value"} <= params
    frame = served.grafana.frame(target)
    assert frame
    for row in frame:
        assert min(MATCHING_MEMORY) <= row["value"] <= max(MATCHING_MEMORY), row


def test_recent_exceptions_panel(served: Served) -> None:
    (target,) = panels()["Recent exceptions"]["targets"]
    frame = served.grafana.frame(target)
    assert [row["type"] for row in frame] == [served.seeded.exception_type]
    assert frame[0]["occurrences"] == 1 and frame[0]["sessions"] == 1


def test_every_panel_target_is_exercised_above() -> None:
    """A panel added to the dashboard without a test here fails this."""
    tested = {
        "/api/grafana/status_series",
        "/api/releases",
        "/api/metrics/series",
        "/api/exceptions",
    }
    urls = {t["url"] for p in dashboard()["panels"] for t in p["targets"]}
    assert urls == tested


def test_panels_need_the_key_the_datasource_sends(served: Served) -> None:
    (target,) = panels()["Crash-free sessions by version"]["targets"]
    keyless = Grafana(served.grafana.base, {}, served.grafana.values, served.grafana.range_ms)
    assert keyless.request(target).status_code == 401
    ingest = Grafana(
        served.grafana.base,
        bearer(served.ingest_key),
        served.grafana.values,
        served.grafana.range_ms,
    )
    assert ingest.request(target).status_code == 403


# -- GET /api/grafana/status_series against a model ---------------------------------------

HOUR_US = 3_600_000_000
BASE_US = 1_790_000_000 * 1_000_000 - (1_790_000_000 * 1_000_000) % HOUR_US
"""An hour in 2026 no other test places sessions in."""


@dataclass(frozen=True)
class Placed:
    version: str
    outcome: str
    minutes: int  # created this many minutes after BASE_US


PLACED = [
    Placed("2.0", "ended", 5),
    Placed("2.0", "crashed", 10),
    Placed("2.0", "ended", 70),
    Placed("2.1", "active", 75),
    Placed("2.1", "crashed", 179),
]


def model(
    placed: list[Placed], since_us: int, until_us: int, width_us: int, version: str | None
) -> list[dict[str, Any]]:
    counts: dict[tuple[int, str], int] = {}
    for p in placed:
        at = BASE_US + p.minutes * 60_000_000
        if since_us <= at < until_us and version in (None, p.version):
            key = (at - at % width_us, p.outcome)
            counts[key] = counts.get(key, 0) + 1
    rows = []
    start = since_us - since_us % width_us
    while start < until_us:
        for status in STATUSES:
            rows.append(
                {
                    "time": to_rfc3339(start),
                    "status": status,
                    "count": counts.get((start, status), 0),
                }
            )
        start += width_us
    return rows


@pytest.fixture(scope="module")
async def placed(client: httpx.AsyncClient, database_url: str) -> str:
    product = f"gf-{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(database_url)
    try:
        for p in PLACED:
            made = await client.post(
                "/api/sessions", json={"product": product, "version": p.version}
            )
            sid = made.json()["session_id"]
            if p.outcome != "active":
                ended = await client.post(f"/api/sessions/{sid}/end", json={"status": p.outcome})
                assert ended.status_code == 200
            async with engine.begin() as conn:
                await conn.execute(
                    update(sessions)
                    .where(sessions.c.id == sid)
                    .values(created_us=BASE_US + p.minutes * 60_000_000)
                )
    finally:
        await engine.dispose()
    return product


def ms(us: int) -> int:
    return us // 1000


async def test_status_series_matches_the_model(client: httpx.AsyncClient, placed: str) -> None:
    since, until = BASE_US - HOUR_US, BASE_US + 3 * HOUR_US
    for bucket, width in (("1h", HOUR_US), ("5m", 300_000_000), ("auto", 60_000_000)):
        for version in (None, "2.0", "2.1"):
            params: dict[str, Any] = {
                "product": placed,
                "from": ms(since),
                "to": ms(until),
                "bucket": bucket,
            }
            if version:
                params["version"] = version
            answer = await client.get("/api/grafana/status_series", params=params)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["bucket"] == {"auto": "1m"}.get(bucket, bucket)
            assert body["rows"] == model(PLACED, since, until, width, version), (bucket, version)


async def test_status_series_range_is_half_open_and_blank_filters_mean_any(
    client: httpx.AsyncClient, placed: str
) -> None:
    # [BASE+10min, BASE+75min) holds the sessions at 10 and 70 minutes, not the one at 75.
    since, until = BASE_US + 10 * 60_000_000, BASE_US + 75 * 60_000_000
    params = {"product": placed, "version": "", "from": ms(since), "to": ms(until), "bucket": "1h"}
    answer = await client.get("/api/grafana/status_series", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == model(PLACED, since, until, HOUR_US, None)
    assert sum(r["count"] for r in answer.json()["rows"]) == 2


async def test_status_series_answers_its_documented_shape(
    client: httpx.AsyncClient, placed: str
) -> None:
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/api/grafana/status_series"]["get"]
    assert "422" in operation["responses"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    schema = {**schema, "components": document["components"]}
    validator = jsonschema_rs.validator_for(schema)
    answer = await client.get(
        "/api/grafana/status_series",
        params={"product": placed, "from": ms(BASE_US), "to": ms(BASE_US + HOUR_US)},
    )
    assert validator.is_valid(answer.json())
    example = document["components"]["schemas"]["StatusSeriesOut"]["examples"][0]
    assert validator.is_valid(example)
    assert answer.json()["truncated"] is False
    names = {p["name"] for p in operation["parameters"]}
    assert names == {"product", "version", "from", "to", "bucket"}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"from": -1, "to": 1000}, "from"),
        ({"to": 10**16}, "to"),
        ({"bucket": "2h"}, "bucket"),
        ({"from": "yesterday"}, "from"),
        ({"product": "a\x00b"}, "product"),
    ],
)
async def test_status_series_refuses_bad_input_naming_it(
    client: httpx.AsyncClient, params: dict[str, Any], named: str
) -> None:
    answer = await client.get("/api/grafana/status_series", params=params)
    assert answer.status_code == 422, answer.text
    assert named in answer.text


async def test_status_series_of_an_empty_range_has_no_rows(
    client: httpx.AsyncClient, placed: str
) -> None:
    for since, until in ((BASE_US + HOUR_US, BASE_US), (BASE_US, BASE_US)):
        params = {"product": placed, "from": ms(since), "to": ms(until)}
        answer = await client.get("/api/grafana/status_series", params=params)
        assert answer.status_code == 200, answer.text
        assert answer.json()["rows"] == [] and answer.json()["truncated"] is False


async def test_status_series_keeps_the_newest_buckets_of_a_long_range(
    client: httpx.AsyncClient, placed: str
) -> None:
    # Three days in minutes is 4320 buckets: the newest 2000 end with the one holding
    # BASE+179min, the last placed session, and begin after all the others.
    until = BASE_US + 180 * 60_000_000
    since = until - 3 * 86_400_000_000
    params = {"product": placed, "from": ms(since), "to": ms(until), "bucket": "1m"}
    answer = await client.get("/api/grafana/status_series", params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["truncated"] is True
    assert len(body["rows"]) == MAX_BUCKETS * len(STATUSES)
    kept_from = until - MAX_BUCKETS * 60_000_000
    assert body["rows"][0]["time"] == to_rfc3339(kept_from)
    assert body["rows"] == model(PLACED, kept_from, until, 60_000_000, None)
    # Even the whole of time answers at most MAX_BUCKETS days.
    everything = {"product": placed, "from": 0, "to": 253_402_300_799_999}
    widest = (await client.get("/api/grafana/status_series", params=everything)).json()
    assert widest["bucket"] == "1d" and widest["truncated"] is True
    assert len(widest["rows"]) == MAX_BUCKETS * len(STATUSES)


@pytest.mark.parametrize(
    ("span_us", "bucket", "want"),
    [
        (HOUR_US, Bucket.auto, Bucket.minute),
        (300 * 60_000_000, Bucket.auto, Bucket.minute),
        (301 * 60_000_000, Bucket.auto, Bucket.five_minutes),
        (12 * 86_400_000_000, Bucket.auto, Bucket.hour),
        (13 * 86_400_000_000, Bucket.auto, Bucket.day),
        (HOUR_US, Bucket.day, Bucket.day),
    ],
)
def test_the_bucket_plan(span_us: int, bucket: Bucket, want: Bucket) -> None:
    query = StatusSeriesQuery(since_us=BASE_US, until_us=BASE_US + span_us, bucket=bucket)
    chosen = plan(query)
    assert (chosen.bucket, chosen.since_us, chosen.truncated) == (want, BASE_US, False)


def test_filled_answers_every_bucket_and_status_in_order() -> None:
    width = 60_000_000
    counted = [(BASE_US + width, "crashed", 2)]
    rows = filled(counted, BASE_US + 30_000_000, BASE_US + 2 * width + 1, width)
    assert [r[0] for r in rows[:: len(STATUSES)]] == [BASE_US, BASE_US + width, BASE_US + 2 * width]
    assert [r[1] for r in rows[: len(STATUSES)]] == list(STATUSES)
    assert sum(r[2] for r in rows) == 2 and (BASE_US + width, "crashed", 2) in rows
