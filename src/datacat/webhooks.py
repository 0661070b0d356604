"""Webhooks on trouble (issue 13): the delivery loop every server process runs.

Each pass, a poll interval apart: read the hooks (a tiny table: this is the "reload at
most once a poll" cache — the writer never reads hooks, it only journals transitions,
see ``store.transitions``), fan journalled transitions out to the outbox, look for new
exception groups, then claim the deliveries that are due and send them, a few at once.
Every step is safe with several processes (``store.hooks``), and everything that must
survive a restart is in the database, so a killed server loses nothing: the next start
picks up where the outbox says.

Tunables are settings (``DATACAT_WEBHOOK_*``; tests shorten the backoff): POLL_S (1),
BACKOFF_S (10, doubling per failed attempt, at most an hour apart), MAX_ATTEMPTS (10),
TIMEOUT_S (10 per request); DATACAT_PUBLIC_URL (unset) makes the session link in a
delivery absolute. With DATACAT_RETENTION_DAYS set, deliveries settled
longer ago than that are deleted (hourly), as the sessions they speak of are.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import httpx

from datacat import webhookrules as rules
from datacat.settings import Settings
from datacat.store.hooks import Delivery, HookStore, Outcome
from datacat.store.repository import Repository
from datacat.timefmt import now_us

log = logging.getLogger(__name__)

SENDS_AT_ONCE = 16
FORGET_EVERY_S = 3600.0
"""How often settled deliveries older than DATACAT_RETENTION_DAYS are deleted (the first
pass does it at once)."""
LEASE_MARGIN_S = 30.0
"""A claimed delivery is retried by another process if no answer is recorded within the
request timeout plus this (the claimant died mid-send)."""


@dataclass(frozen=True, slots=True)
class Tunables:
    poll_s: float = 1.0
    timeout_s: float = 10.0
    public_url: str | None = None
    retry: rules.Retry = field(default_factory=rules.Retry)

    @classmethod
    def from_settings(cls, settings: Settings) -> Tunables:
        retry = rules.Retry(
            base_s=settings.webhook_backoff_s,
            cap_s=rules.Retry().cap_s,
            max_attempts=settings.webhook_max_attempts,
        )
        return cls(
            poll_s=settings.webhook_poll_s,
            timeout_s=settings.webhook_timeout_s,
            public_url=settings.public_url or None,
            retry=retry,
        )


async def send(
    http: httpx.AsyncClient, url: str, secret: str, body: bytes, delivery_id: int | None
) -> tuple[int | None, str | None]:
    """POST one signed body; (HTTP status or None, error or None when it was a 2xx)."""
    try:
        response = await http.post(
            url, content=body, headers=rules.headers(secret, body, now_us(), delivery_id)
        )
    except httpx.HTTPError as exc:
        return None, rules.error_text(f"{type(exc).__name__}: {exc}")
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, rules.error_text(
        f"HTTP {response.status_code}: {response.text[:200]}"
    )


async def _attempt(http: httpx.AsyncClient, delivery: Delivery) -> Outcome:
    status, error = await send(http, delivery.url, delivery.secret, delivery.body, delivery.id)
    return Outcome(delivery, status, error)


async def deliver_once(store: HookStore, http: httpx.AsyncClient, tunables: Tunables) -> int:
    """One pass of the loop; returns how many deliveries were attempted."""
    hooks = await store.hooks()
    await store.fan_out(hooks, tunables.public_url)
    await store.scan_exceptions(hooks, tunables.public_url)
    lease_us = int((tunables.timeout_s + LEASE_MARGIN_S) * 1_000_000)
    attempted = 0
    while claimed := await store.claim(lease_us, SENDS_AT_ONCE):
        outcomes = await asyncio.gather(*(_attempt(http, item) for item in claimed))
        await store.settle(outcomes, tunables.retry)
        attempted += len(outcomes)
        for outcome in outcomes:
            if outcome.error is not None:
                log.warning(
                    "webhook delivery %d to hook %d failed (attempt %d): %s",
                    outcome.delivery.id,
                    outcome.delivery.hook_id,
                    outcome.delivery.attempts,
                    outcome.error,
                )
    return attempted


async def run(repo: Repository, settings: Settings) -> None:
    """Deliver queued webhook calls until cancelled (started by the app's lifespan)."""
    tunables = Tunables.from_settings(settings)
    failing = False
    forgotten_at = -FORGET_EVERY_S
    async with httpx.AsyncClient(timeout=tunables.timeout_s, follow_redirects=False) as http:
        while True:
            await asyncio.sleep(tunables.poll_s)
            try:
                await deliver_once(repo.hooks, http, tunables)
                if settings.retention_days is not None and (
                    time.monotonic() - forgotten_at >= FORGET_EVERY_S
                ):
                    cutoff = now_us() - int(settings.retention_days * 86_400 * 1_000_000)
                    await repo.hooks.forget(cutoff)
                    forgotten_at = time.monotonic()
            except Exception as exc:  # the database is away or a bug: try again next poll
                # The whole traceback once, then a line per pass, not a traceback a second.
                if failing:
                    log.warning("webhook delivery pass failed again: %s", exc)
                else:
                    log.exception(
                        "webhook delivery pass failed; retrying every %g s", tunables.poll_s
                    )
                failing = True
                continue
            if failing:
                log.info("webhook delivery passes work again")
                failing = False
