"""Exceptions grouped across sessions (issue 12). Placeholder: filled in by the exceptions work."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/exceptions", tags=["exceptions"])
