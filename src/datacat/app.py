"""The ASGI application: ``uvicorn datacat.app:app``, or ``create_app(settings)`` in tests."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

import datacat_web
from datacat import memory, observability, promstats, security, webhooks
from datacat.api import (
    batch,
    docs,
    errors,
    events,
    exceptions,
    grafana,
    health,
    keys,
    metrics,
    otlp,
    releases,
    schemas,
    sessions,
)
from datacat.api.fastpath import FastPath
from datacat.api.responses import API_ERRORS
from datacat.auth import Access, AuthMiddleware
from datacat.ingress import IngressMiddleware
from datacat.limits import Limits
from datacat.ratelimit import RateLimit
from datacat.settings import Settings
from datacat.store.migrate import upgrade
from datacat.store.prune import Removed
from datacat.store.repository import Repository
from datacat.timefmt import now_us

log = logging.getLogger(__name__)

RETENTION_PASS_SESSIONS = 1_000
"""Sessions one sweep may delete for DATACAT_RETENTION_DAYS: a backlog (retention just
turned on) is worked off over several sweeps, so marking abandoned sessions stays on time."""


async def _apply_retention(repo: Repository, days: float) -> None:
    cutoff = now_us() - int(days * 86_400 * 1_000_000)
    total = Removed()
    try:
        async for removed in repo.prune(cutoff, limit=RETENTION_PASS_SESSIONS):
            total.add(removed)
    except Exception:  # what was deleted stays deleted; the rest is retried next interval
        log.exception("retention pass failed")
    if total:
        log.info("retention (%g days) deleted %s", days, total.as_dict())


async def _sweep_forever(
    repo: Repository, access: Access, interval_s: float, retention_days: float | None
) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await access.flush_usage()
        except Exception:  # "last used" is a hint: losing one interval's is acceptable
            log.exception("could not record when API keys were last used")
        if retention_days is not None:
            await _apply_retention(repo, retention_days)
        try:
            marked = await repo.sweep_abandoned()
        except Exception:  # a failed sweep is retried next interval; never kill the app
            log.exception("abandoned-session sweep failed")
            promstats.sweep_failed()
            continue
        promstats.sweep_done(marked)
        if marked:
            log.info("marked %d silent session(s) abandoned", marked)


def _tune_garbage_collector() -> None:
    """Keep the cyclic collector from stalling the event loop under load.

    Every request allocates thousands of short-lived container objects; with the default
    thresholds the collector ran so often that its pauses set the tail latency (ingest
    p99 62 ms → 10 ms with this change, on a 2-core machine). Objects that live for the
    whole process (modules, routes, compiled SQL) are frozen out of collection entirely.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    memory.limit_arenas()


def create_app(settings: Settings | None = None, *, fast_path: bool = True) -> FastAPI:
    """``fast_path=False`` serves every route through FastAPI (tests compare the two)."""
    settings = settings or Settings()
    access = Access(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        repo = Repository.from_url(settings.database_url, pool_size=settings.pool_size)
        if settings.migrate_on_start:
            await upgrade(repo.engine)
        await repo.start()
        app.state.repository = repo
        await access.start(repo.keys)
        _tune_garbage_collector()
        background = [
            asyncio.create_task(
                _sweep_forever(repo, access, settings.sweep_interval_s, settings.retention_days)
            ),
            asyncio.create_task(webhooks.run(repo, settings)),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with contextlib.suppress(Exception):
                await access.flush_usage()
            await repo.close()

    app = FastAPI(
        title="datacat",
        version="0.1.0",
        summary="Sessions, deep-merged state, events and metrics from running applications.",
        lifespan=lifespan,
        docs_url=None,  # api/docs.py serves both from the package, not from a CDN
        redoc_url=None,
        # FastAPI's OpenTelemetry hooks cost a provider look-up on every request even
        # when nothing is configured; on the ingest path that is ~10% of the CPU.
        telemetry={
            "tracing": settings.telemetry,
            "metrics": settings.telemetry,
            "logs": settings.telemetry,
        },
    )
    app.state.settings = settings
    app.state.limits = Limits.from_settings(settings)
    app.state.access = access
    schemas.document(app)
    errors.install(app)
    for module in (sessions, batch, metrics, events, exceptions, grafana, keys, releases, otlp):
        app.include_router(module.router, responses=API_ERRORS)
    for module in (health, docs):
        app.include_router(module.router)
    datacat_web.mount(app)
    if fast_path:
        app.add_middleware(FastPath)
    if settings.rate_limit_per_s:  # runs after auth (it limits per key) and before the rest
        app.add_middleware(
            RateLimit, rate=settings.rate_limit_per_s, burst=settings.rate_limit_burst
        )
    app.add_middleware(AuthMiddleware, access=access)  # before anything reads a body
    app.add_middleware(  # added last, so it runs first: limits apply to the fast path too
        IngressMiddleware,
        default_limit=(settings.max_body_bytes, "MAX_BODY_BYTES"),
        # An OTLP export is a batch too (gzip may inflate it to the same bound: api/otlp.py).
        limits={
            path: (settings.max_batch_bytes, "MAX_BATCH_BYTES")
            for path in ("/api/batch", "/v1/logs", "/v1/metrics")
        },
        worker_header=settings.worker_header,
    )
    security.install(app, settings)  # CORS around the whole stack, whatever is added above
    # Outermost: request ids, the security headers and Prometheus, one layer for all three.
    observability.install(app, settings)
    return app


def __getattr__(name: str) -> Any:
    # `uvicorn datacat.app:app` reads this; building on first access (not at import) keeps
    # create_app importable by tests without touching the default database.
    if name == "app":
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(name)
