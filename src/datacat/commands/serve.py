"""``datacat serve`` and ``datacat db upgrade``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from datacat.commands import Commands, apply_flags, database_option
from datacat.settings import Settings


def register(commands: Commands) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the HTTP service",
        description="Migrate the database to the latest schema, then serve the HTTP API "
        "and the web UI. Flags override the DATACAT_* environment variables.",
    )
    serve.add_argument("--host", help="bind address (DATACAT_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (DATACAT_PORT, default 8080)")
    database_option(serve)
    serve.add_argument("--workers", type=int, help="worker processes (DATACAT_WORKERS, default 1)")
    serve.set_defaults(run=run_serve)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser(
        "upgrade",
        help="apply migrations up to the latest",
        description="Apply the database migrations up to the latest schema, then exit.",
    )
    database_option(upgrade)
    upgrade.set_defaults(run=run_upgrade)


def _migrated(args: argparse.Namespace) -> Settings:
    apply_flags(
        args, {"host": "HOST", "port": "PORT", "database_url": "DATABASE_URL", "workers": "WORKERS"}
    )
    settings = Settings()
    from datacat.store.migrate import upgrade_url

    # Migrate once here, so several workers never race to create the schema.
    asyncio.run(upgrade_url(settings.database_url))
    return settings


def run_upgrade(args: argparse.Namespace) -> int:
    settings = _migrated(args)
    print(f"database at head: {settings.database_url}")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    settings = _migrated(args)
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from datacat.logformat import log_config

    with _prometheus_files(settings.workers):
        uvicorn.run(
            "datacat.app:app",
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level="info",
            log_config=log_config(LOGGING_CONFIG, settings.log_format),
            access_log=settings.access_log,
        )
    return 0


_PROMETHEUS_PREFIX = "datacat-prometheus-"


@contextlib.contextmanager
def _prometheus_files(workers: int) -> Iterator[None]:
    """With several workers, a fresh ``PROMETHEUS_MULTIPROC_DIR`` for this start.

    prometheus_client sums the workers' counts from memory-mapped files in that directory;
    it reads the variable when imported, so it is set here, before uvicorn starts the
    workers (each a fresh interpreter that inherits it). Fresh, because files left by an
    earlier start would be added in as if this one had counted them. Removed on the way
    out; a server killed outright leaves its directory, which the next start removes (the
    name carries the pid of the process that made it).
    """
    if workers <= 1:
        yield
        return
    _remove_orphans(Path(tempfile.gettempdir()))
    directory = tempfile.mkdtemp(prefix=f"{_PROMETHEUS_PREFIX}{os.getpid()}-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    try:
        yield
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(directory, ignore_errors=True)


def _remove_orphans(parent: Path) -> None:
    for directory in parent.glob(f"{_PROMETHEUS_PREFIX}*-*"):
        pid = directory.name[len(_PROMETHEUS_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(directory, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
