"""``datacat serve`` and ``datacat db upgrade``."""

from __future__ import annotations

import argparse
import asyncio
import copy

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

    # uvicorn configures only its own loggers; without this datacat's INFO lines (the
    # sweeper's abandoned sessions, retention's deletions) went nowhere.
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"]["datacat"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    uvicorn.run(
        "datacat.app:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="info",
        log_config=log_config,
        access_log=False,
    )
    return 0
