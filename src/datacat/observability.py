"""Prometheus metrics, JSON logs and request ids (issue 13). Placeholder."""

from __future__ import annotations

from fastapi import FastAPI

from datacat.settings import Settings


def install(app: FastAPI, settings: Settings) -> None:
    """Wrap ``app`` with what operators' tools read; called last but one by create_app."""
    return None
