"""The client-only install (``clients/python``): a fresh environment gets a working client
and none of the server's packages."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "constraints.txt"
SERVER_PACKAGES = ("fastapi", "starlette", "sqlalchemy", "uvicorn", "asyncpg", "alembic", "jinja2")

SCRIPT = """
import importlib.util, sys
absent = [name for name in {server!r} if importlib.util.find_spec(name) is not None]
assert not absent, "server packages installed: %s" % absent

from datacat import create_session  # the seed's import, as the full package offers it
import datacat_client

session = create_session({url!r})
session.update_state({{"installed": "client-only"}})
session.log_event("hello", {{"from": "client-only"}})
details = session.get_details()
assert [e["name"] for e in details["events"]] == ["hello"], details
assert session.end() == {{"status": "ok"}}
print(session.session_id, datacat_client.__file__)
"""


def test_client_only_install_works_without_the_server_packages(url: str, tmp_path: Path) -> None:
    env_dir = tmp_path / "client-env"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # the locked pip first: the one ensurepip brings knows no --build-constraint
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-c", str(LOCK), "pip"], check=True
    )
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            # the same pinned versions (and build backend) as every other install
            "-c",
            str(LOCK),
            "--build-constraint",
            str(LOCK),
            str(ROOT / "clients" / "python"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    frozen = subprocess.run(
        [str(python), "-m", "pip", "freeze"], capture_output=True, text=True, check=True
    ).stdout.lower()
    assert "datacat-client" in frozen
    assert not [name for name in SERVER_PACKAGES if f"{name}==" in frozen], frozen

    script = SCRIPT.format(server=SERVER_PACKAGES, url=url)
    # Run from tmp_path so the checkout's own src/ is not on the path by accident.
    run = subprocess.run(
        [str(python), "-I", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    session_id, imported_from = run.stdout.split()
    assert str(env_dir) in imported_from  # the installed copy, not the checkout's
    stored = httpx.get(f"{url}/api/sessions/{session_id}").json()
    assert stored["state"] == {"installed": "client-only"} and stored["active"] is False
