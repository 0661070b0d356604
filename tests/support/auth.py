"""Keys for tests of a key-protected server: created the way an operator does, by CLI."""

from __future__ import annotations

import subprocess
import sys


def datacat_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``datacat ARGS --database-url URL`` as a real subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "datacat.cli", *args, "--database-url", database_url],
        capture_output=True,
        text=True,
        timeout=60,
    )


def create_key(database_url: str, scope: str, name: str | None = None) -> str:
    """A new key of ``scope``; creating the first one switches auth on."""
    named = ("--name", name) if name else ()
    done = datacat_cli(database_url, "keys", "create", "--scope", scope, *named)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
