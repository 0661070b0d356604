"""A foreign process's hold on a SQLite database, for tests of what datacat does then."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def foreign_write_lock(path: Path) -> Iterator[None]:
    """SQLite's write lock held by this process, outside datacat's own lock file."""
    connection = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()
