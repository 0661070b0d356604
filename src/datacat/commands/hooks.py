"""``datacat hooks add|list|remove|test``: webhooks on trouble, kept in the database.

Running servers pick changes up on their next delivery pass (within a second): hooks are
read afresh each pass, in every worker and replica.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import httpx

from datacat import webhookrules as rules
from datacat import webhooks
from datacat.commands import Commands, apply_flags, database_option, print_table
from datacat.settings import Settings
from datacat.store.hooks import HookStore
from datacat.store.migrate import upgrade_beside_servers
from datacat.store.repository import Repository
from datacat.timefmt import now_us, to_rfc3339


def register(commands: Commands) -> None:
    hooks = commands.add_parser(
        "hooks",
        help="add, list, remove and test webhooks",
        description="Webhooks: datacat POSTs a signed JSON message (with a Slack-compatible "
        "'text') to a URL when a session crashes, hangs or is abandoned, or an exception "
        "group is seen for the first time. Each is sent once per session and status (once "
        "per exception group), retried with backoff until the receiver answers 2xx.",
    )
    actions = hooks.add_subparsers(dest="hooks_command", required=True)
    add = actions.add_parser(
        "add",
        help="add a hook; prints its id and signing secret (shown once)",
        description="Add a hook. Prints its id and the secret that signs its deliveries "
        "(X-Datacat-Signature: sha256=HMAC-SHA256 of the body): keep it now.",
    )
    add.add_argument("url", metavar="URL", help="where to POST (http:// or https://)")
    add.add_argument(
        "--on",
        required=True,
        metavar="KINDS",
        help=f"comma-separated: {', '.join(rules.KINDS)}",
    )
    add.add_argument("--product", help="only sessions of this product (default: all)")
    database_option(add)
    add.set_defaults(run=run_add)
    listing = actions.add_parser(
        "list", help="list hooks with delivered, pending and failed (given up) deliveries"
    )
    database_option(listing)
    listing.set_defaults(run=run_list)
    remove = actions.add_parser("remove", help="remove a hook and its queued deliveries")
    remove.add_argument("id", metavar="ID", type=int)
    database_option(remove)
    remove.set_defaults(run=run_remove)
    test = actions.add_parser(
        "test", help="send a signed test delivery now and print the receiver's answer"
    )
    test.add_argument("id", metavar="ID", type=int)
    database_option(test)
    test.set_defaults(run=run_test)


async def _with_store(args: argparse.Namespace, action: str) -> int:
    apply_flags(args, {"database_url": "DATABASE_URL"})
    repo = Repository.from_url(Settings().database_url, pool_size=1)
    try:
        await upgrade_beside_servers(repo.engine)
        return await _act(repo.hooks, args, action)
    finally:
        await repo.close()


def _fail(action: str, message: str) -> int:
    print(f"datacat hooks {action}: {message}", file=sys.stderr)
    return 1


async def _act(store: HookStore, args: argparse.Namespace, action: str) -> int:
    if action == "add":
        try:
            hook = await store.add(args.url, rules.parse_kinds(args.on), args.product)
        except ValueError as exc:
            return _fail(action, str(exc))
        print(f"id: {hook.id}")
        print(f"secret: {hook.secret}")
        return 0
    if action == "remove":
        if not await store.remove(args.id):
            return _fail(action, f"no hook with id {args.id}")
        print(f"removed hook {args.id}")
        return 0
    if action == "test":
        return await _test(store, args.id)
    rows = [("ID", "URL", "ON", "PRODUCT", "DELIVERED", "PENDING", "FAILED", "LAST ERROR")]
    for summary in await store.summaries():
        hook = summary.hook
        rows.append(
            (
                str(hook.id),
                hook.url,
                ",".join(hook.kinds),
                hook.product or "*",
                str(summary.delivered),
                str(summary.pending),
                str(summary.failed),
                summary.last_error or "",
            )
        )
    print_table(rows)
    return 0


async def _test(store: HookStore, hook_id: int) -> int:
    hook = await store.get(hook_id)
    if hook is None:
        return _fail("test", f"no hook with id {hook_id}")
    tunables = webhooks.Tunables.from_settings(Settings())
    now = now_us()
    body = rules.encode(rules.test_payload(hook.id, now))
    async with httpx.AsyncClient(timeout=tunables.timeout_s) as http:
        status, error = await webhooks.send(http, hook.url, hook.secret, body, None)
    if error is not None:
        return _fail("test", f"{hook.url} at {to_rfc3339(now)}: {error}")
    print(f"{hook.url} answered {status}")
    return 0


def run_add(args: argparse.Namespace) -> int:
    return asyncio.run(_with_store(args, "add"))


def run_list(args: argparse.Namespace) -> int:
    return asyncio.run(_with_store(args, "list"))


def run_remove(args: argparse.Namespace) -> int:
    return asyncio.run(_with_store(args, "remove"))


def run_test(args: argparse.Namespace) -> int:
    return asyncio.run(_with_store(args, "test"))
