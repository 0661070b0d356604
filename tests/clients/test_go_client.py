"""The Go client (``clients/go``): vet, gofmt, and its own ``go test ./...`` against a real
server, plus a program written against the original Go client's API, built and run.

``go test`` gets two servers: an open one (``DATACAT_TEST_URL``) and a key-protected one
(``DATACAT_TEST_AUTH_URL`` with an ingest and a read key made by ``datacat keys create``).

Go is required: ``make test`` installs Debian's ``golang-go`` when ``go`` is missing. The
module uses the standard library only, so it builds offline (``GOPROXY=off``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support import serve
from support.keyed import KeyedServer, keyed_server

ROOT = Path(__file__).resolve().parents[2]
GO_MODULE = ROOT / "clients" / "go"


def go_binary() -> str:
    found = shutil.which("go") or next(
        (p for p in ("/usr/lib/go/bin/go", "/usr/local/go/bin/go") if os.access(p, os.X_OK)), None
    )
    if found is None:
        pytest.fail(
            "the Go toolchain is missing: `make test` installs it "
            "(apt-get install golang-go), or install Go >= 1.19 yourself",
            pytrace=False,
        )
    return found


def go_env(url: str, tmp: Path, keyed: KeyedServer | None = None) -> dict[str, str]:
    cache = os.environ.get("GOCACHE") or str(Path.home() / ".cache" / "go-build")
    auth = {}
    if keyed is not None:
        auth = {
            "DATACAT_TEST_AUTH_URL": keyed.url,
            "DATACAT_TEST_INGEST_KEY": keyed.keys["ingest"],
            "DATACAT_TEST_READ_KEY": keyed.keys["read"],
        }
    environment = {k: v for k, v in os.environ.items() if k != "DATACAT_API_KEY"}
    return {
        **environment,
        **auth,
        "DATACAT_TEST_URL": url,
        "GOFLAGS": "-mod=mod",
        "GOPROXY": "off",
        "GOCACHE": cache,
        "GOPATH": os.environ.get("GOPATH") or str(Path.home() / "go"),
        "GOTMPDIR": str(tmp),
        "CGO_ENABLED": "0",
        "GOTOOLCHAIN": "local",
    }


def run(
    args: list[str], env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=GO_MODULE, env=env, capture_output=True, text=True, timeout=timeout
    )


def shown(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("go-client") / "go.db"
    with serve(f"sqlite+aiosqlite:///{path}") as url:
        yield url


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyedServer]:
    with keyed_server(tmp_path_factory.mktemp("go-client-keyed")) as running:
        yield running


def test_go_vet_gofmt_and_go_test_against_a_real_server(
    server: str, keyed: KeyedServer, tmp_path: Path
) -> None:
    go = go_binary()
    env = go_env(server, tmp_path, keyed)

    vet = run([go, "vet", "./..."], env)
    assert vet.returncode == 0, "go vet failed\n" + shown(vet)

    gofmt = shutil.which("gofmt") or str(Path(go).with_name("gofmt"))
    fmt = run([gofmt, "-l", "."], env)
    unformatted = fmt.stdout.strip()
    assert fmt.returncode == 0 and not unformatted, "gofmt -l: not formatted\n" + shown(fmt)

    test = run([go, "test", "-count=1", "-v", "./..."], env)
    assert test.returncode == 0, "go test failed\n" + shown(test)
    # The integration tests really ran (DATACAT_TEST_URL was set), they were not skipped.
    assert "--- PASS: TestIntegrationBatchSessionExactlyOnceOnResend" in test.stdout, shown(test)
    assert "--- PASS: TestIntegrationAPIKey" in test.stdout, shown(test)
    assert "--- SKIP" not in test.stdout, shown(test)


def test_a_program_written_for_the_original_go_client_runs(server: str, tmp_path: Path) -> None:
    go = go_binary()
    env = go_env(server, tmp_path)
    binary = tmp_path / "original"
    build = run([go, "build", "-o", str(binary), "./examples/original"], env)
    assert build.returncode == 0, "go build failed\n" + shown(build)

    result = subprocess.run(
        [str(binary), server], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 0, shown(result)
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert lines["active"] == "true"
    assert lines["window_state.open"] == "[main space probe]"
    assert lines["window_state.active"] == "main"
    assert lines["events"] == "1 started"
    assert lines["metrics"] == "2 cpu_usage 45.2"
    assert lines["ended"] == "true true"
    assert lines["in all sessions"] == "true"

    # What the program logged is on the server, as any client would read it.
    session = httpx.get(f"{server}/api/sessions/{lines['session']}").json()
    assert session["status"] == "ended"
    assert session["state"]["application"] == {"status": "running"}
    assert session["metrics"][0]["tags"] == ["host:server1"]
