"""Service configuration: one pydantic-settings class, read from ``DATACAT_*`` variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    telemetry: bool = Field(
        default=False, description="FastAPI's OpenTelemetry spans, metrics and logs."
    )
