"""``datacat prune --older-than DURATION [--dry-run]``: delete sessions inactive for long."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from datacat.commands import Commands, apply_flags, database_option
from datacat.durations import InvalidDuration, parse_seconds
from datacat.settings import Settings
from datacat.store.migrate import upgrade_beside_servers
from datacat.store.prune import Removed
from datacat.store.repository import Repository
from datacat.timefmt import now_us, to_rfc3339


def register(commands: Commands) -> None:
    prune = commands.add_parser(
        "prune",
        help="delete sessions whose last activity is older than a duration",
        description="Delete every session whose last activity (its last accepted write, "
        "keep-alives included) is older than DURATION, with its events, metrics and state "
        "history, a few thousand rows per transaction so a running server keeps ingesting. "
        "Safe beside a running server.",
    )
    prune.add_argument(
        "--older-than",
        required=True,
        type=_duration,
        metavar="DURATION",
        help="a whole number and a unit: 30d, 12h, 90m, 45s",
    )
    prune.add_argument(
        "--dry-run", action="store_true", help="print what would be deleted; delete nothing"
    )
    database_option(prune)
    prune.set_defaults(run=run_prune)


def _duration(text: str) -> int:
    try:
        return parse_seconds(text)
    except InvalidDuration as exc:  # argparse prints it and exits with status 2
        raise argparse.ArgumentTypeError(str(exc)) from exc


def describe(removed: Removed) -> str:
    return (
        f"{removed.sessions} sessions, {removed.events} events, {removed.metrics} metrics, "
        f"{removed.state_history} state updates"
    )


async def _prune(args: argparse.Namespace) -> int:
    apply_flags(args, {"database_url": "DATABASE_URL"})
    cutoff = now_us() - args.older_than * 1_000_000
    scope = f"last activity before {to_rfc3339(cutoff)}"
    url = Settings().database_url
    repo = Repository.from_url(url, pool_size=1)
    try:
        await upgrade_beside_servers(repo.engine)
        if args.dry_run:
            print(f"would delete {describe(await repo.count_prunable(cutoff))} ({scope})")
            return 0
        started = time.monotonic()
        total = Removed()
        async for removed in repo.prune(cutoff):
            total.add(removed)
            if sys.stderr.isatty():
                print(f"\rdeleted {describe(total)} …", end="", file=sys.stderr, flush=True)
        if sys.stderr.isatty():
            print(file=sys.stderr)
        seconds = time.monotonic() - started
        print(f"deleted {describe(total)} ({scope}) in {seconds:.1f} s")
        return 0
    finally:
        await repo.close()


def run_prune(args: argparse.Namespace) -> int:
    return asyncio.run(_prune(args))
