"""Hostile strings in every field a program can write, shown on every page: none runs.

A server of this module's own (its own SQLite file, so the web suite's counts stay as
seeded) holds one session whose every user-controlled field — product, version, host,
metadata, state keys and values, event names and data, metric names and tags, an
exception's type and message — carries script in each of the shapes that break out of
text, attributes, ``<script>`` data blocks, templates and htmx attributes. Chromium then
opens every page, the htmx partials (swapped in and opened alone), ``/docs`` (with an API
answer that carries the strings), ``/redoc`` and the sign-in form (on a server that
requires a key), which echoes the address it was asked for.

Each page must show the strings as text (so the check is not vacuous) and must not: set
``window.__xss`` (every payload tries to), open a dialog, add an element the payload
describes, or report a Content-Security-Policy violation — a violation would mean either
the page itself needs more than the policy allows, or markup got through and the policy
was the only thing that stopped it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest

from datacat_client import exception_data
from support import BACKENDS, eventually, fresh_database, serve

pytestmark = pytest.mark.browser

VECTORS = (
    "<script>__xss=1</script>",
    "<img src=x onerror=__xss=1;alert(1)>",
    '"><svg onload=__xss=1>',
    "'><svg onload=__xss=1>",
    "</script><script>__xss=1</script>",
    "<b hx-on:click=__xss=1 hx-get=/ hx-trigger=load>htmx</b>",
    "javascript:__xss=1",
    "{{7*7}}",
)
"""No dots or newlines, so a string doubles as a state path key and reads back unchanged."""
PAYLOAD = " ".join(VECTORS)
QUOTELESS = "<svg onload=__xss=1> {{7*7}}"
"""For the state-filter path, whose keys may not hold quotes."""


def hostile(field: str) -> str:
    """The payload, tagged with the field it is stored in, so a test can find each one."""
    text = f"{field} {PAYLOAD}"
    assert len(text) <= 256, "fields are limited to 256 characters"
    return text


FILTER_PATH = f"probe {QUOTELESS}"
FILTER_KEY = QUOTELESS
FILTER_VALUE = f"value {QUOTELESS}"
INJECTED = (
    "main script:not([type='application/json']), img[src=x], svg[onload], [onerror],"
    " [onload], [hx-on\\:click]"
)
"""Elements that exist only if a payload was parsed as markup."""

WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`
    + ` in ${e.sourceFile}:${e.lineNumber} ${e.sample}`);
}, true);
"""


class Seeded:
    def __init__(self, url: str, session_id: str, metric: str) -> None:
        self.url = url
        self.session_id = session_id
        self.metric = metric


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def _raised() -> BaseException:
    """A real exception whose type name and message are both hostile, as a client logs it."""
    hostile_type = type(hostile("exception-type"), (RuntimeError,), {})
    try:
        raise hostile_type(hostile("exception-message"))
    except RuntimeError as exc:
        return exc


ON_BOTH_BACKENDS = pytest.mark.parametrize("hostile_server", BACKENDS, indirect=True)
"""For the pages that show stored data: PostgreSQL gives JSON back its own way (key order,
numbers), so they are checked on it too; the rest run on SQLite alone."""


@pytest.fixture(scope="module")
def hostile_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    backend = getattr(request, "param", "sqlite")
    with (
        fresh_database(backend, tmp_path_factory.mktemp("xss"), "xss") as database_url,
        serve(database_url) as url,
        httpx.Client(base_url=url) as http,
    ):
        body = {
            "product": hostile("product"),
            "version": hostile("version"),
            "host": hostile("host"),
            "metadata": {hostile("metadata-key"): hostile("metadata-value")},
        }
        session_id = _ok(http.post("/api/sessions", json=body))["session_id"]
        api = f"/api/sessions/{session_id}"
        state = {
            hostile("state-key"): hostile("state-value"),
            FILTER_PATH: {FILTER_KEY: FILTER_VALUE},
        }
        _ok(http.post(f"{api}/state", json=state))
        _ok(
            http.post(
                f"{api}/events",
                json={
                    "name": hostile("event-name"),
                    "data": {hostile("data-key"): hostile("data-value")},
                },
            )
        )
        _ok(
            http.post(
                f"{api}/events", json={"name": "exception", "data": exception_data(_raised())}
            )
        )
        metric = hostile("metric-name")
        for value in (1.0, 2.0):
            tags = {hostile("tag-key"): hostile("tag-value")}
            _ok(http.post(f"{api}/metrics", json={"name": metric, "value": value, "tags": tags}))
        yield Seeded(url, session_id, metric)


class Tab:
    """One Chromium tab and everything it reports that a safe page never does."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        page.add_init_script(WATCH)
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("console", self._console)
        page.on(
            "response",
            lambda r: r.status >= 500 and self.problems.append(f"{r.status} from {r.url}"),
        )

    def _dialog(self, dialog: Any) -> None:
        self.problems.append(f"dialog ({dialog.type}): {dialog.message}")
        dialog.dismiss()

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.problems.append(f"console: {message.text}")

    def open(self, path: str, status: int = 200) -> Any:
        response = self.page.goto(path)
        assert response.status == status, f"{path}: {response.status}"
        self.page.wait_for_load_state("load")
        return response

    def text(self) -> str:
        """What the page shows, with every folded part (state trees, events) unfolded."""
        self.page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        return self.page.locator("body").inner_text()

    def assert_safe(self) -> None:
        page = self.page
        assert page.evaluate("typeof window.__xss") == "undefined", "a payload ran"
        assert page.locator(INJECTED).count() == 0, "a payload became markup"
        violations = page.evaluate("window.__violations")
        assert violations == [], f"CSP violations on {page.url}: {violations}"
        assert self.problems == [], f"on {page.url}: {self.problems}"


@pytest.fixture
def tab(browser: Any, hostile_server: Seeded) -> Iterator[Tab]:
    context = browser.new_context(
        base_url=hostile_server.url, viewport={"width": 1280, "height": 800}
    )
    context.set_default_timeout(10_000)
    opened = Tab(context.new_page())
    try:
        yield opened
    finally:
        context.close()


def _assert_shows(text: str, *fields: str) -> None:
    missing = [field for field in fields if hostile(field) not in text]
    assert not missing, f"not shown as text: {missing}"


def _chart_label(tab: Tab, canvas_id: str) -> str | None:
    """The label of the chart drawn on the canvas now in the page (after a swap, the new
    one), read back from Chart.js: its name came through the JSON data block whole."""
    return tab.page.evaluate(
        """id => {
             const chart = (window.datacatCharts || {})[id];
             const drawn = chart && chart.canvas === document.getElementById(id);
             return drawn ? chart.data.datasets[0].label : null;
           }""",
        canvas_id,
    )


SESSION_FIELDS = ("product", "version", "host")


@ON_BOTH_BACKENDS
def test_dashboard_and_its_refresh(tab: Tab, hostile_server: Seeded) -> None:
    tab.open("/")
    _assert_shows(tab.text(), *SESSION_FIELDS)
    tab.assert_safe()
    total = "#dashboard [data-testid=total]"
    tab.page.evaluate(f"document.querySelector('{total}').dataset.before = '1'")
    tab.page.evaluate("htmx.ajax('GET', '/ui/dashboard', {source: '#dashboard'})")
    eventually(lambda: tab.page.locator(f"{total}[data-before]").count(), 0)
    _assert_shows(tab.text(), *SESSION_FIELDS)
    tab.assert_safe()
    tab.open("/ui/dashboard")
    _assert_shows(tab.text(), *SESSION_FIELDS)
    tab.assert_safe()


@ON_BOTH_BACKENDS
def test_sessions_list_plain_and_filtered(tab: Tab, hostile_server: Seeded) -> None:
    tab.open("/sessions")
    _assert_shows(tab.text(), *SESSION_FIELDS)
    tab.assert_safe()
    query = {
        "product": hostile("product"),
        "state_path": f"{FILTER_PATH}.{FILTER_KEY}",
        "state_value": FILTER_VALUE,
        "state_mode": "current",
    }
    tab.open("/sessions?" + urlencode(query))
    assert tab.page.locator("#sessions tbody tr").count() == 1
    _assert_shows(tab.text(), *SESSION_FIELDS)
    assert tab.page.locator("input[name=product]").input_value() == hostile("product")
    assert tab.page.locator("input[name=state_value]").input_value() == FILTER_VALUE
    tab.assert_safe()
    # The same filter typed into the form: htmx swaps the table in.
    tab.open("/sessions")
    tab.page.fill("input[name=product]", hostile("product"))
    eventually(lambda: tab.page.locator("#sessions tbody tr").count(), 1)
    tab.assert_safe()


DETAIL_FIELDS = (
    *SESSION_FIELDS,
    "state-key",
    "state-value",
    "event-name",
    "data-key",
    "data-value",
    "metric-name",
    "exception-type",
    "exception-message",
)


@ON_BOTH_BACKENDS
def test_session_detail_and_its_partials(tab: Tab, hostile_server: Seeded) -> None:
    sid = hostile_server.session_id
    tab.open(f"/sessions/{sid}")
    _assert_shows(tab.text(), *DETAIL_FIELDS)
    assert FILTER_VALUE in tab.text()
    # The chart's label came through the JSON data block whole.
    assert _chart_label(tab, "chart-1") == hostile_server.metric
    tab.assert_safe()

    # The live refresh, with a stale state digest so every part (state too) is swapped.
    tab.page.evaluate("document.getElementById('state-digest').value = 'stale'")
    tab.page.evaluate("document.querySelectorAll('[id]').forEach(e => e.dataset.before = '1')")
    tab.page.evaluate(
        f"htmx.ajax('GET', '/ui/sessions/{sid}/live', {{source: '#live-poller', swap: 'none'}})"
    )
    for part in ("#session-head", "#events", "#charts", "#state", "#timeline"):
        eventually(lambda part=part: tab.page.locator(f"{part}[data-before]").count(), 0)
    _assert_shows(tab.text(), *DETAIL_FIELDS)
    assert _chart_label(tab, "chart-1") == hostile_server.metric
    tab.assert_safe()

    # The events filter, typed: htmx swaps in the events table for that name only.
    tab.page.fill("#event-name", hostile("event-name"))
    eventually(
        lambda: tab.page.locator("#events .event-name").all_inner_texts(), [hostile("event-name")]
    )
    tab.assert_safe()

    for partial in (f"/ui/sessions/{sid}/events", f"/ui/sessions/{sid}/live"):
        tab.open(partial)
        assert hostile("event-name") in tab.text()
        tab.assert_safe()


@ON_BOTH_BACKENDS
def test_releases_page_and_its_sparkline(tab: Tab, hostile_server: Seeded) -> None:
    tab.open("/releases")
    _assert_shows(tab.text(), "product", "version")
    tab.assert_safe()
    tab.open("/releases?product=" + quote(hostile("product"), safe=""))
    assert tab.page.locator("#releases tbody tr").count() == 1
    label = f"{hostile('product')} {hostile('version')} crash-free %"
    eventually(lambda: _chart_label(tab, "spark-0"), label)
    tab.assert_safe()


@ON_BOTH_BACKENDS
def test_metrics_explorer_with_a_state_filter(tab: Tab, hostile_server: Seeded) -> None:
    query = {
        "name": hostile_server.metric,
        "aggregation": "peak",
        "mode": "current",
        "path": f"{FILTER_PATH}.{FILTER_KEY}",
        "value": FILTER_VALUE,
    }
    tab.open("/metrics?" + urlencode(query))
    assert tab.page.get_by_test_id("sessions-matched").inner_text() == "1"
    assert tab.page.get_by_test_id("peak").inner_text() == "2"
    assert _chart_label(tab, "series-chart") == hostile_server.metric
    assert tab.page.locator("input[name=state_path]").input_value() == query["path"]
    assert tab.page.locator("input[name=state_value]").input_value() == FILTER_VALUE
    tab.assert_safe()
    # Chosen in the form instead: the series is swapped in by htmx.
    tab.open("/metrics")
    tab.page.select_option("#metric-name", hostile_server.metric)
    eventually(lambda: tab.page.get_by_test_id("points").count(), 1)
    assert tab.page.get_by_test_id("points").inner_text() == "2"
    assert hostile_server.metric in tab.page.locator("#metric-name").inner_text()
    eventually(lambda: _chart_label(tab, "series-chart"), hostile_server.metric)
    tab.assert_safe()


def test_error_pages(tab: Tab) -> None:
    no_slash = "<img src=x onerror=__xss=1> \"'><svg onload=__xss=1> {{7*7}}"
    tab.open("/sessions/" + quote(no_slash, safe=""), status=404)
    assert no_slash in tab.text()
    tab.assert_safe()
    tab.open("/no-such-page/" + quote(PAYLOAD, safe=""), status=404)
    assert PAYLOAD in tab.text()
    tab.assert_safe()


def test_api_answers_opened_in_the_browser(tab: Tab, hostile_server: Seeded) -> None:
    """Metadata and tags appear on no page; opened in a tab, the API shows them as text."""
    api = f"/api/sessions/{hostile_server.session_id}"
    tab.open(api)
    session = json.loads(tab.page.locator("body").inner_text())
    assert session["metadata"] == {hostile("metadata-key"): hostile("metadata-value")}
    tab.assert_safe()
    tab.open(f"{api}/metrics")
    metrics = json.loads(tab.page.locator("body").inner_text())
    assert metrics["items"][0]["tags"] == {hostile("tag-key"): hostile("tag-value")}
    tab.assert_safe()


def test_swagger_ui_shows_an_answer_full_of_payloads(tab: Tab, hostile_server: Seeded) -> None:
    tab.open("/docs")
    page = tab.page
    operation = page.locator("#operations-sessions-get_session_api_sessions__session_id__get")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.locator("input[placeholder=session_id]").fill(hostile_server.session_id)
    operation.get_by_role("button", name="Execute").click()
    body = operation.locator(".live-responses-table .response-col_description pre").first
    eventually(lambda: "version" in body.inner_text(), True)
    assert "hx-on:click=__xss=1" in body.inner_text()
    tab.assert_safe()


def test_redoc(tab: Tab) -> None:
    tab.open("/redoc")
    eventually(lambda: tab.page.get_by_role("heading", name="Create Session").count() > 0, True)
    tab.assert_safe()


def test_the_policy_is_what_stops_markup(tab: Tab) -> None:
    """The checks above can see a violation: markup that reaches a page under the policy
    (here written into it by the test) is blocked, and reported."""
    tab.open("/")
    tab.page.evaluate(f"document.querySelector('main').innerHTML += {VECTORS[1]!r}")
    eventually(lambda: len(tab.page.evaluate("window.__violations")) > 0, True)
    assert tab.page.evaluate("typeof window.__xss") == "undefined"


@pytest.fixture(scope="module")
def locked_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("locked") / "locked.db"
    with serve(f"sqlite+aiosqlite:///{db}", env={"DATACAT_REQUIRE_AUTH": "true"}) as url:
        yield url


def test_sign_in_page(browser: Any, locked_server: str) -> None:
    """The one page that echoes the address it was asked for (``next``) into the form."""
    context = browser.new_context(base_url=locked_server)
    try:
        tab = Tab(context.new_page())
        back = "/sessions?product=" + quote(PAYLOAD, safe="")
        tab.open(back)  # redirected to the sign-in form, which keeps where to go back to
        assert tab.page.url.startswith(f"{locked_server}/signin?next=")
        assert tab.page.locator("input[name=next]").input_value() == back
        tab.assert_safe()
        # Asked for with the payload itself as the place to go back to, and then refused.
        tab.open("/signin?next=" + quote(f"/{PAYLOAD}", safe=""))
        assert tab.page.locator("input[name=next]").input_value() == f"/{PAYLOAD}"
        tab.assert_safe()
        tab.page.fill("input[name=key]", PAYLOAD)
        tab.page.click("#signin button[type=submit]")
        tab.page.wait_for_selector("#signin-error")
        assert tab.page.locator("input[name=next]").input_value() == f"/{PAYLOAD}"
        tab.assert_safe()
    finally:
        context.close()
