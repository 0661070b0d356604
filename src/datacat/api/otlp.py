"""OpenTelemetry logs and metrics in, over OTLP/HTTP (issue 13). Placeholder."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["opentelemetry"])
