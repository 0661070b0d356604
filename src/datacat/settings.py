"""Service configuration: one pydantic-settings class, read from ``DATACAT_*`` variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from datacat.logformat import LogFormat


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DATACAT_", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///./datacat.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://…",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_batch_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_batch_items: int = Field(default=5000, ge=1)
    sweep_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="How often sessions past their heartbeat timeout are marked abandoned.",
    )
    pool_size: int = Field(default=10, ge=1, description="PostgreSQL connection pool size.")
    migrate_on_start: bool = True
    worker_header: bool = Field(
        default=False,
        description="Name the answering process in an X-Datacat-Worker header (diagnostics, "
        "tests that must see several workers answer).",
    )
    log_format: LogFormat = Field(
        default="text",
        description="text for people, json for one JSON object per log line (time, level, "
        "logger, message, request_id, exc_info).",
    )
    access_log: bool = Field(
        default=False, description="Log every request (uvicorn's access log), in log_format."
    )
    metrics_top_products: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="Products named in /-/metrics' datacat_sessions; the rest count as other.",
    )
    metrics_top_releases: int = Field(
        default=20,
        ge=0,
        le=1000,
        description="Releases (product and version) with the most recent activity in "
        "/-/metrics' datacat_release_sessions_24h; 0 = none.",
    )
    telemetry: bool = Field(
        default=False, description="FastAPI's OpenTelemetry spans, metrics and logs."
    )

    # Access: keys live in the database (``datacat keys``); these only switch auth on early.
    require_auth: bool = Field(
        default=False,
        description="Require an API key on /api even before any key exists "
        "(auth is on anyway once one does).",
    )
    bootstrap_admin_key: str | None = Field(
        default=None,
        description="An admin key created at start-up if absent (for containers).",
    )
    secret_key: str | None = Field(
        default=None,
        description="Signs the web UI's sign-in cookie; generated once and kept in the "
        "database when unset.",
    )
    cors_origins: str = Field(
        default="",
        description="Comma-separated origins allowed to call the API from a browser; "
        "empty = CORS off.",
    )

    # Limits on what one request may carry (over a limit: 413 or 422 naming it).
    max_state_depth: int = Field(
        default=32,
        ge=1,
        description="Nesting depth of any JSON value a request carries (state, event data, "
        "metadata, tags).",
    )
    max_object_keys: int = Field(
        default=1000, ge=1, description="Keys in any one JSON object (state, data, tags)."
    )
    max_metric_tags: int = Field(default=64, ge=0, description="Tags on one metric.")
    max_name_length: int = Field(
        default=256, ge=1, le=256, description="Characters in an event or metric name."
    )
    rate_limit_per_s: float = Field(
        default=0,
        ge=0,
        description="Requests per second per API key (per client address when open), "
        "per process; 0 = no limit.",
    )
    rate_limit_burst: int = Field(
        default=0,
        ge=0,
        description="Requests allowed at once above the rate (0 = one second's worth).",
    )

    # Webhooks (``datacat hooks``).
    webhook_poll_s: float = Field(
        default=1.0, gt=0, description="How often each process looks for deliveries to send."
    )
    webhook_backoff_s: float = Field(
        default=10.0,
        gt=0,
        description="Wait before the first retry of a failed delivery; doubles per attempt, "
        "at most an hour.",
    )
    webhook_max_attempts: int = Field(
        default=10, ge=1, description="Attempts before a delivery is given up."
    )
    webhook_timeout_s: float = Field(default=10.0, gt=0, description="Per delivery request.")
    public_url: str | None = Field(
        default=None,
        description="Where people open datacat (https://datacat.example.com): makes the "
        "session links in webhook messages absolute.",
    )

    # Size.
    retention_days: float | None = Field(
        default=None,
        gt=0,
        description="Delete sessions whose last activity is older than this many days "
        "(the sweeper applies it); unset = keep everything.",
    )
