"""What every suite (and ``bench/``) needs to run datacat for real: one kit, one behaviour.

Tests import it as ``support`` (pytest puts ``tests/`` on ``sys.path`` for the root
``conftest.py``, since ``tests/`` is not a package); ``bench`` runs from the repository
root and imports it as ``tests.support``. The modules import each other relatively, so
both names work.
"""

from __future__ import annotations

from .clientkit import FAST, stored_metrics
from .postgres import (
    BACKENDS,
    PG_ADMIN_URL,
    async_throwaway_database,
    fresh_database,
    pg_database_url,
    throwaway_database,
)
from .server import ServerProcess, datacat_server, free_port, serve
from .waiting import eventually

__all__ = [
    "BACKENDS",
    "FAST",
    "PG_ADMIN_URL",
    "ServerProcess",
    "async_throwaway_database",
    "datacat_server",
    "eventually",
    "free_port",
    "fresh_database",
    "pg_database_url",
    "serve",
    "stored_metrics",
    "throwaway_database",
]
