"""Webhook tables (issue 13): registered on the shared metadata by ``tables``."""

from __future__ import annotations
