"""Webhook tables (issue 13): registered on the shared metadata by ``tables``.

``session_transitions`` is a journal the group writer and the sweeper append to, in the
same transaction as a session's status change, when the new status is trouble (crashed,
hung, abandoned). It costs nothing on the hot path (statuses change rarely) and knows
nothing of hooks: the delivery loop fans each entry out to the hooks that want it, as
``webhook_outbox`` rows, and deletes it. An outbox row holds the finished JSON body, so a
retry sends the same bytes, and its ``(hook_id, dedupe_key)`` is unique: one delivery per
hook per session per status, or per exception fingerprint, however often it recurs.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, text

from datacat.store.tables import PkType, metadata

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", Text, nullable=False),
    # Comma-separated kinds (``webhookrules.KINDS``), in that order.
    Column("kinds", String(128), nullable=False),
    Column("product", String(256), nullable=True),
    # Signs deliveries (HMAC-SHA256); kept as is, since signing needs it.
    Column("secret", String(128), nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

session_transitions = Table(
    "session_transitions",
    metadata,
    Column("id", PkType, primary_key=True, autoincrement=True),
    Column("session_pk", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("at_us", BigInteger, nullable=False),
)

webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("id", PkType, primary_key=True, autoincrement=True),
    Column("hook_id", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    # "crashed:<session id>", "new_exception:<fingerprint>": what makes a delivery one.
    Column("dedupe_key", String(128), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_us", BigInteger, nullable=False),
    Column("delivered_us", BigInteger, nullable=True),
    Column("failed_us", BigInteger, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Index("ux_webhook_outbox_dedupe", "hook_id", "dedupe_key", unique=True),
    Index(
        "ix_webhook_outbox_due",
        "next_attempt_us",
        sqlite_where=text("delivered_us IS NULL AND failed_us IS NULL"),
        postgresql_where=text("delivered_us IS NULL AND failed_us IS NULL"),
    ),
)

# Positions the delivery loop keeps across restarts (the last event id scanned for new
# exception fingerprints).
webhook_cursors = Table(
    "webhook_cursors",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)
