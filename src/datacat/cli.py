"""The ``datacat`` command: a thin layer over the app and the store.

argparse prints ``DESCRIPTION`` as is, so it is plain text, not this docstring's markup.
Each subcommand lives in its own module under ``datacat.commands``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import cast

from datacat.commands import hooks, keys, prune, serve, transfer

DESCRIPTION = (
    "datacat: sessions, state, events and metrics over HTTP. "
    "'datacat serve' runs the service; 'datacat keys' manages API keys; 'datacat prune', "
    "'export' and 'import' keep the database's size in check and move it between "
    "SQLite and PostgreSQL. Every command takes --database-url."
)

COMMAND_MODULES = (serve, keys, hooks, prune, transfer)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="datacat", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return cast(int, args.run(args))


if __name__ == "__main__":
    sys.exit(main())
