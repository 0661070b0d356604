"""``datacat keys create|list|revoke``: API keys, kept (hashed) in the database."""

from __future__ import annotations

import argparse
import asyncio
import sys

from datacat.commands import Commands, apply_flags, database_option, print_table
from datacat.settings import Settings
from datacat.store.keys import SCOPES, KeyConflict, KeyStore
from datacat.store.migrate import upgrade_beside_servers
from datacat.store.repository import Repository
from datacat.timefmt import to_rfc3339


def register(commands: Commands) -> None:
    keys = commands.add_parser(
        "keys",
        help="create, list and revoke API keys",
        description="API keys for the HTTP API and the web UI. Once any key exists, every "
        "/api request needs 'Authorization: Bearer KEY' with the right scope: ingest "
        "(create sessions and write to them), read (every GET and the web UI), admin "
        "(both, and deletion).",
    )
    actions = keys.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser(
        "create",
        help="create a key and print it (shown once)",
        description="Create a key and print it alone on stdout. Only its hash is stored: "
        "keep it now, it cannot be shown again.",
    )
    create.add_argument("--scope", required=True, choices=SCOPES)
    create.add_argument("--name", help="a name to tell the key by (default: its prefix)")
    database_option(create)
    create.set_defaults(run=run_create)
    listing = actions.add_parser("list", help="list keys (never the keys themselves)")
    database_option(listing)
    listing.set_defaults(run=run_list)
    revoke = actions.add_parser("revoke", help="revoke a key by its prefix or name")
    revoke.add_argument("key", metavar="PREFIX|NAME")
    database_option(revoke)
    revoke.set_defaults(run=run_revoke)


async def _with_store(args: argparse.Namespace, action: str) -> int:
    apply_flags(args, {"database_url": "DATABASE_URL"})
    repo = Repository.from_url(Settings().database_url, pool_size=1)
    try:
        await upgrade_beside_servers(repo.engine)
        return await _act(repo.keys, args, action)
    finally:
        await repo.close()


async def _act(store: KeyStore, args: argparse.Namespace, action: str) -> int:
    if action == "create":
        try:
            print(await store.create(args.scope, name=args.name))
        except KeyConflict as exc:
            print(f"datacat keys create: {exc}", file=sys.stderr)
            return 1
        return 0
    if action == "revoke":
        revoked = await store.revoke(args.key)
        if revoked is None:
            print(
                f"datacat keys revoke: no active key named or prefixed {args.key!r}",
                file=sys.stderr,
            )
            return 1
        print(f"revoked {revoked.prefix} ({revoked.name}, {revoked.scope})")
        return 0
    rows = [("PREFIX", "NAME", "SCOPE", "CREATED", "LAST USED", "REVOKED")]
    for key in await store.list():
        rows.append(
            (
                key.prefix,
                key.name,
                key.scope,
                to_rfc3339(key.created_us),
                to_rfc3339(key.last_used_us) if key.last_used_us else "never",
                to_rfc3339(key.revoked_us) if key.revoked_us else "",
            )
        )
    print_table(rows)
    return 0


def run_create(args: argparse.Namespace) -> int:
    return asyncio.run(_with_store(args, "create"))


def run_list(args: argparse.Namespace) -> int:
    return asyncio.run(_with_store(args, "list"))


def run_revoke(args: argparse.Namespace) -> int:
    return asyncio.run(_with_store(args, "revoke"))
