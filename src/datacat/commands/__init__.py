"""The ``datacat`` subcommands, one module each.

Every module has ``register(commands)``, which adds its parser(s) and sets ``run`` — a
function of the parsed arguments returning the exit status. ``database_option`` is the one
``--database-url`` flag every command that touches the database shares.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

Commands = Any  # argparse's _SubParsersAction, which typeshed keeps private


def database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="SQLAlchemy URL (DATACAT_DATABASE_URL)")


def apply_flags(args: argparse.Namespace, flags: dict[str, str]) -> None:
    """Flags become DATACAT_* variables, so worker processes (which re-read the
    environment) and ``Settings()`` see the same configuration as the command line."""
    for flag, env in flags.items():
        value = getattr(args, flag, None)
        if value is not None:
            os.environ[f"DATACAT_{env}"] = str(value)


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """Rows (a header first) in aligned columns, as ``keys list`` and ``hooks list`` show
    them: readable by people, and split on runs of spaces by scripts."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
