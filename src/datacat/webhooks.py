"""Webhooks on trouble (issue 13). Placeholder: filled in by the webhook work."""

from __future__ import annotations

from datacat.settings import Settings
from datacat.store.repository import Repository


async def run(repo: Repository, settings: Settings) -> None:
    """Deliver queued webhook calls until cancelled (started by the app's lifespan)."""
    return None
