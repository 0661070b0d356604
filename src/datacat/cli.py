"""The ``datacat`` command: a thin layer over the app and the store.

argparse prints ``DESCRIPTION`` as is, so it is plain text, not this docstring's markup.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from datacat.settings import Settings

DESCRIPTION = (
    "datacat: sessions, state, events and metrics over HTTP. "
    "'datacat serve' runs the service; 'datacat db upgrade' migrates the database."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="datacat", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="run the HTTP service",
        description="Migrate the database to the latest schema, then serve the HTTP API "
        "and the web UI. Flags override the DATACAT_* environment variables.",
    )
    serve.add_argument("--host", help="bind address (DATACAT_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (DATACAT_PORT, default 8080)")
    serve.add_argument("--database-url", help="SQLAlchemy URL (DATACAT_DATABASE_URL)")
    serve.add_argument("--workers", type=int, help="worker processes (DATACAT_WORKERS, default 1)")
    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser(
        "upgrade",
        help="apply migrations up to the latest",
        description="Apply the database migrations up to the latest schema, then exit.",
    )
    upgrade.add_argument("--database-url", help="SQLAlchemy URL (DATACAT_DATABASE_URL)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Flags become DATACAT_* variables so worker processes (which re-read the environment)
    # see the same configuration as this one.
    for flag, env in (
        ("host", "HOST"),
        ("port", "PORT"),
        ("database_url", "DATABASE_URL"),
        ("workers", "WORKERS"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            os.environ[f"DATACAT_{env}"] = str(value)
    settings = Settings()
    from datacat.store.migrate import upgrade_url

    # Migrate once here, so several workers never race to create the schema.
    asyncio.run(upgrade_url(settings.database_url))
    if args.command == "db":
        print(f"database at head: {settings.database_url}")
        return 0

    import uvicorn

    uvicorn.run(
        "datacat.app:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="info",
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
