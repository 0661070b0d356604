"""The lite client (clients/python-lite/datacat.py) under Python 2.7 and 3, on a real server.

The seed README's Python examples (tests/lite/examples/, copied verbatim) run
as scripts in a subprocess of each interpreter, importing the lite ``datacat`` module —
never the full package installed in this venv (each run reports the file it imported).
Only the server URL changes: the explicit ``"http://localhost:8080"`` is replaced and
``create_session``'s default is pointed at the test server; the heartbeat example also
gets short timeouts. What each example wrote is then read back over the HTTP API.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from support import seedexamples, serve

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LITE_DIR = ROOT / "clients" / "python-lite"
EXAMPLES = HERE / "examples"
SEED_URL = "http://localhost:8080"
HUNG, RECOVERED = "application_appears_hung", "application_recovered"

# The heartbeat example with short timeouts: the first do_work() hangs 2.5 s without a
# heartbeat (> 1.5 s timeout), the loop's time.sleep(1) between beats stays under it.
HEARTBEAT_TIMEOUTS = ("timeout=60, check_interval=5", "timeout=1.5, check_interval=0.1")
HEARTBEAT_ENV = {"DATACAT_EXAMPLE_HANG": "2.5", "DATACAT_EXAMPLE_LOOPS": "2"}


def find_python27() -> str | None:
    """A Python 2.7 interpreter: $DATACAT_PYTHON27, pyenv's 2.7.18, python2.7, python2."""
    candidates = [os.environ.get("DATACAT_PYTHON27")]
    if shutil.which("pyenv"):
        found = subprocess.run(
            ["pyenv", "which", "python"],
            env={**os.environ, "PYENV_VERSION": "2.7.18"},
            capture_output=True,
            text=True,
        )
        candidates.append(found.stdout.strip() if found.returncode == 0 else None)
    candidates += [
        str(Path.home() / ".pyenv/versions/2.7.18/bin/python"),
        shutil.which("python2.7"),
        shutil.which("python2"),
    ]
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        version = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2] == (2, 7))"],
            capture_output=True,
            text=True,
        )
        if version.stdout.strip() == "True":
            return candidate
    return None


PYTHON27 = find_python27()
NO_PY27 = "no Python 2.7 interpreter (pyenv 2.7.18, python2.7, python2, $DATACAT_PYTHON27)"
# -E -s / -I: ignore PYTHONPATH and user site-packages, so only the given directory
# provides `datacat` besides the interpreter's own site-packages (which the lite module,
# put first on sys.path by the runner, shadows; each run reports the file it imported).
# -B: no .pyc / __pycache__ left in clients/python-lite.
INTERPRETERS = {"py2.7": [PYTHON27, "-B", "-E", "-s"], "py3": [sys.executable, "-B", "-I"]}


def interpreter_params() -> list[Any]:
    return [
        pytest.param("py2.7", marks=pytest.mark.skipif(PYTHON27 is None, reason=NO_PY27)),
        "py3",
    ]


def result_of(stdout: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, stdout
    return json.loads(lines[-1][len("RESULT ") :])


def run_script(python: str, *args: str, env: dict[str, str] | None = None) -> Any:
    return start(INTERPRETERS[python], *args, env=env)


def start(command: list[str], *args: str, env: dict[str, str] | None = None) -> Any:
    return subprocess.Popen(
        [*command, *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> tuple[str, str]:
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, f"exit {process.returncode}\n{stdout}\n{stderr}"
    return stdout, stderr


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("lite") / "lite.db"
    with serve(f"sqlite+aiosqlite:///{db}") as base:
        yield base


@pytest.fixture(scope="module")
def http(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30) as client:
        yield client


def stored(http: httpx.Client, session_id: str) -> dict[str, Any]:
    response = http.get(f"/api/sessions/{session_id}")
    assert response.status_code == 200, response.text
    return response.json()


# -- the seed README's examples, verbatim ---------------------------------------------------
EXAMPLE_NAMES = [
    *("basic", "advanced", "python2", "nested_state", "heartbeat", "lifecycle"),
    "monitoring",
]
RUNS = [*EXAMPLE_NAMES, "lite_readme"]  # and the example in clients/python-lite/README.md


def example_code(name: str) -> str:
    if name == "lite_readme":
        readme = (LITE_DIR / "README.md").read_text()
        return readme.split("```python\n", 1)[1].split("```", 1)[0]
    return (EXAMPLES / f"{name}.py").read_text()


@pytest.fixture(scope="module")
def example_runs(
    url: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """Every example under every interpreter, all at once (the heartbeat ones take ~4 s)."""
    scripts = tmp_path_factory.mktemp("examples")
    started = {}
    for name in RUNS:
        code = example_code(name).replace(SEED_URL, url)
        env = None
        if name == "heartbeat":
            assert HEARTBEAT_TIMEOUTS[0] in code
            code = code.replace(*HEARTBEAT_TIMEOUTS)
            env = HEARTBEAT_ENV
        script = scripts / f"{name}.py"
        script.write_text(code)
        for python in INTERPRETERS:
            if python == "py2.7" and PYTHON27 is None:
                continue
            runner = str(HERE / "run_example.py")
            process = run_script(python, runner, str(LITE_DIR), url, str(script), env=env)
            started[python, name] = process
    runs = {}
    for key, process in started.items():
        stdout, _ = finish(process)
        runs[key] = stdout, result_of(stdout)
    return runs


def check_basic(out: str, result: dict[str, Any], session: dict[str, Any]) -> None:
    assert session["state"] == {"status": "running", "progress": 0}
    assert [(e["name"], e["data"]) for e in session["events"]] == [("started", {"user": "alice"})]
    metrics = [(m["name"], m["value"], m["tags"]) for m in session["metrics"]]
    assert metrics == [("cpu_usage", 45.2, ["host:server1"])]
    assert session["active"] is True
    assert "cpu_usage" in out and "started" in out and session["id"] in out  # print(details)


def check_heartbeat(out: str, result: dict[str, Any], session: dict[str, Any]) -> None:
    events = session["events"]
    assert [e["name"] for e in events] == [HUNG, RECOVERED]  # hung once, then recovered
    assert events[0]["data"]["timeout"] == 1.5
    assert events[0]["data"]["seconds_since_heartbeat"] > 1.5
    assert events[1]["data"]["hung_for_seconds"] > 0
    assert session["status"] == "ended" and session["active"] is False and session["ended_at"]
    # The monitor's keep-alives armed the server's abandonment detection: max(30, 3 * 0.1).
    assert session["heartbeat_timeout"] == 30
    assert session["last_seen_at"]


def check_lite_readme(out: str, result: dict[str, Any], session: dict[str, Any]) -> None:
    assert (session["product"], session["version"]) == ("exporter", "2.1")
    assert [e["name"] for e in session["events"]] == ["started", "exception"]
    exception = session["events"][1]["data"]
    assert exception["type"] == "KeyError" and exception["frame"] == 2
    assert [m["value"] for m in session["metrics"]] == [16.7] * 3
    assert session["metrics"][0]["tags"] == ["scene:intro"]
    assert session["status"] == "ended" and session["last_seen_at"]
    assert out.splitlines()[0] == "active"


# The checks both clients share come from support.seedexamples; this file adds its own.
CHECKS = {name: {**vars(seedexamples), **globals()}[f"check_{name}"] for name in RUNS}


@pytest.mark.parametrize("name", RUNS)
@pytest.mark.parametrize("python", interpreter_params())
def test_seed_example(
    python: str,
    name: str,
    example_runs: dict[tuple[str, str], tuple[str, dict[str, Any]]],
    http: httpx.Client,
) -> None:
    out, result = example_runs[python, name]
    assert Path(result["datacat_file"]).parent == LITE_DIR  # the lite module, not the package
    assert result["python"][0] == (2 if python == "py2.7" else 3)
    CHECKS[name](out, result, stored(http, result["session_id"]))


def test_examples_are_the_seed_readme_verbatim() -> None:
    """When the seed README is at hand, the copies match its code blocks exactly."""
    places = [ROOT.parent / "shared" / "seed-README.md", Path("/work/shared/seed-README.md")]
    seed = next((place for place in places if place.exists()), None)
    if seed is None:
        pytest.skip("the seed README (../shared/seed-README.md) is not beside this checkout")
    text = seed.read_text()
    for name in EXAMPLE_NAMES:
        code = (EXAMPLES / f"{name}.py").read_text()
        assert f"```python\n{code}```" in text, name


# -- exactly-once retry, the error tree ----------------------------------------------------
class FlakyProxy:
    """Forwards to the server; for each event/metric id's first attempt it drops the answer.

    The server has stored the write by then, so only the client's id keeps the retry from
    storing it twice.
    """

    def __init__(self, target: str) -> None:
        self.target = urlsplit(target).netloc
        self.seen: list[tuple[str, dict[str, Any], bool]] = []  # path, body, dropped
        self._ids: set[str] = set()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.forward(self)

            do_POST = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        connection = HTTPConnection(self.target, timeout=30)
        headers = {"Content-Type": handler.headers.get("Content-Type", "application/json")}
        connection.request(handler.command, handler.path, body or None, headers)
        answer = connection.getresponse()
        payload = answer.read()
        connection.close()
        parsed = json.loads(body) if body else {}
        item_id = parsed.get("id") if isinstance(parsed, dict) else None
        with self._lock:
            drop = item_id is not None and item_id not in self._ids
            if item_id is not None:
                self._ids.add(item_id)
            self.seen.append((handler.path, parsed, drop))
        if drop:
            handler.close_connection = True  # stored on the server; the answer is lost
            return
        handler.send_response(answer.status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(url: str) -> Iterator[FlakyProxy]:
    flaky = FlakyProxy(url)
    yield flaky
    flaky.close()


@pytest.mark.parametrize("python", interpreter_params())
def test_retry_is_stored_once_and_errors_are_typed(
    python: str, url: str, proxy: FlakyProxy, http: httpx.Client
) -> None:
    runner = str(HERE / "run_checks.py")
    out, _ = finish(run_script(python, runner, str(LITE_DIR), url, proxy.url))
    result = result_of(out)
    assert Path(result["datacat_file"]).parent == LITE_DIR
    session = stored(http, result["session_id"])

    # Each write reached the server twice with the same id and timestamp; stored once.
    for path_end, name in (("/events", "retried"), ("/metrics", "retried_metric")):
        sent = [(body, dropped) for path, body, dropped in proxy.seen if path.endswith(path_end)]
        assert [dropped for _, dropped in sent] == [True, False]
        assert sent[0][0] == sent[1][0] and len(sent[0][0]["id"]) == 32
        kind = "events" if path_end == "/events" else "metrics"
        matching = [item for item in session[kind] if item["name"] == name]
        assert len(matching) == 1
        assert matching[0]["timestamp"] == sent[0][0]["timestamp"]  # the client's call time
    assert result["retried_event"] == result["retried_metric"] == {"status": "ok"}
    assert result["twice"] == [{"status": "ok"}] * 2
    assert [e["name"] for e in session["events"]].count("twice") == 1

    assert result["not_found"]["class"] == "NotFound"
    assert result["not_found"]["status"] == 404 and result["not_found"]["detail"]
    assert result["not_found_write"]["class"] == "NotFound"
    assert result["long_name"]["class"] == "Unprocessable"
    assert result["long_name"]["status"] == 422 and "name" in json.dumps(
        result["long_name"]["detail"]
    )
    assert result["bad_time"]["status"] == 422
    assert result["hierarchy"] == [True] * 5
    assert result["nan"]["class"] == "InvalidData"
    assert result["unreachable"]["class"] == "TransportError"

    exception = next(e for e in session["events"] if e["name"] == "exception")
    assert exception["data"]["type"] == "KeyError" and exception["data"]["job"] == 7
    assert any("missing" in line for line in exception["data"]["traceback"])
    assert result["heartbeat"] == result["end"] == {"status": "ok"}
    assert session["status"] == "ended" and session["heartbeat_timeout"] == 30

    crashed = stored(http, result["crashed_id"])
    assert crashed["status"] == "crashed" and crashed["active"] is False
    fatal = crashed["events"][-1]["data"]
    assert fatal["type"] == "RuntimeError" and fatal["message"] == "boom" and fatal["fatal"]


# -- installing it ---------------------------------------------------------------------------
BUILD_PROBE = """
import sys, pip, setuptools
def major_minor(version):
    return tuple(int(part) for part in version.split(".")[:2])
try:
    import wheel
except ImportError:  # setuptools >= 70.1 builds wheels itself; pip < 23.1 falls back to
    ok = major_minor(setuptools.__version__) >= (70, 1) or major_minor(pip.__version__) < (23, 1)
    sys.exit(0 if ok else 1)
"""


def offline_installer(python: str) -> list[str] | None:
    """An interpreter whose pip installs a setup.py project with --no-index --no-build-isolation.

    Python 2.7's pip 19 does (it falls back to ``setup.py install``). A Python 3 pip needs
    setuptools with wheel support at hand; without an index it cannot fetch them, so the
    first Python 3 (this venv's, then pyenv's) that has them is used.
    """
    if python == "py2.7":
        candidates = [INTERPRETERS["py2.7"]]
    else:
        pyenv = sorted(Path.home().glob(".pyenv/versions/3.*/bin/python"))
        candidates = [INTERPRETERS["py3"], *([str(p), "-B", "-I"] for p in pyenv)]
    for command in candidates:
        probe = subprocess.run([*command, "-c", BUILD_PROBE], capture_output=True)
        if probe.returncode == 0:
            return command
    return None


@pytest.mark.parametrize("python", interpreter_params())
def test_pip_install(python: str, url: str, tmp_path: Path, http: httpx.Client) -> None:
    """`pip install ./clients/python-lite` (offline: --no-index --no-build-isolation)."""
    command = offline_installer(python)
    if command is None:
        pytest.skip(f"no {python} here has setuptools + wheel to build offline")
    source = tmp_path / "python-lite"  # a copy: pip must not leave build files in the repo
    shutil.copytree(LITE_DIR, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = tmp_path / "site"
    install = [
        "-m", "pip", "install", "--quiet", "--no-index", "--no-build-isolation",
        "--disable-pip-version-check", "--target", str(target), str(source),
    ]  # fmt: skip
    finish(start(command, *install, env={"PYTHONWARNINGS": "ignore"}))
    assert (target / "datacat.py").exists()

    script = tmp_path / "basic.py"
    script.write_text((EXAMPLES / "basic.py").read_text().replace(SEED_URL, url))
    runner = str(HERE / "run_example.py")
    out, _ = finish(start(command, runner, str(target), url, str(script)))
    result = result_of(out)
    assert Path(result["datacat_file"]).parent == target
    check_basic(out, result, stored(http, result["session_id"]))
