"""datacat: a self-hosted service for session state, events and metrics.

The client names are re-exported lazily so that ``from datacat import create_session``
works in an application without importing the server's dependencies (FastAPI, SQLAlchemy).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AsyncDatacatClient",
    "AsyncSession",
    "DatacatClient",
    "DatacatHandler",
    "HeartbeatMonitor",
    "Session",
    "create_session",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        import datacat_client

        return getattr(datacat_client, name)
    raise AttributeError(f"module 'datacat' has no attribute {name!r}")
