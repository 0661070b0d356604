"""What a webhook delivery says and how it is signed and retried — pure rules, no I/O.

A delivery is a JSON object with a Slack-compatible ``text`` line (so a Slack, Mattermost
or Discord-via-Slack incoming webhook shows something readable as is) and the structured
fields a program wants. The body is built once, when the trouble is noticed, and stored:
every retry sends the same bytes, and ``X-Datacat-Delivery`` (the outbox row's id) lets a
receiver deduplicate.

Signing: ``X-Datacat-Signature: sha256=<hex HMAC-SHA256 of the body, keyed with the
hook's secret>``, as GitHub does; ``X-Datacat-Timestamp`` says when this attempt was sent
(a receiver may refuse old ones). Retries back off exponentially from a base delay,
capped, and stop after a number of attempts; the hook listing shows the ones given up.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import orjson

from datacat.timefmt import to_rfc3339

CRASHED, HUNG, ABANDONED, NEW_EXCEPTION = "crashed", "hung", "abandoned", "new_exception"
KINDS = (CRASHED, HUNG, ABANDONED, NEW_EXCEPTION)
"""What a hook can be told of; the first three are session statuses."""
SESSION_KINDS = frozenset({CRASHED, HUNG, ABANDONED})

SIGNATURE_HEADER = "X-Datacat-Signature"
TIMESTAMP_HEADER = "X-Datacat-Timestamp"
DELIVERY_HEADER = "X-Datacat-Delivery"
SECRET_PREFIX = "whsec_"
MAX_ERROR_CHARS = 500
"""How much of a receiver's failure is kept (``hooks list`` shows it)."""


@dataclass(frozen=True, slots=True)
class Retry:
    """How failed deliveries are retried: ``base_s`` after the first failure, doubling,
    at most ``cap_s`` apart, until ``max_attempts`` attempts have failed."""

    base_s: float = 10.0
    cap_s: float = 3600.0
    max_attempts: int = 10

    def next_attempt_us(self, attempts: int, now_us: int) -> int | None:
        """When to try again after ``attempts`` failed attempts; None: give up."""
        if attempts >= self.max_attempts:
            return None
        delay_s = min(self.base_s * 2 ** (attempts - 1), self.cap_s)
        return now_us + int(delay_s * 1_000_000)


def parse_kinds(text: str) -> tuple[str, ...]:
    """``"crashed,hung"`` → the kinds in ``KINDS`` order; unknown or none is a ValueError
    naming what was wrong."""
    given = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [kind for kind in given if kind not in KINDS]
    if unknown:
        raise ValueError(f"unknown kind {unknown[0]!r}: choose from {', '.join(KINDS)}")
    if not given:
        raise ValueError(f"name at least one kind: {', '.join(KINDS)}")
    return tuple(kind for kind in KINDS if kind in given)


def check_url(url: str) -> str:
    """A hook's URL must be absolute http(s); anything else is a ValueError saying so."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"a hook URL must be an absolute http:// or https:// URL; got {url!r}")
    return url


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def wants(kinds: Iterable[str], product: str | None, kind: str, of_product: str | None) -> bool:
    """Whether a hook on ``kinds`` (and ``product``, None for any) is told of ``kind``
    happening in a session of ``of_product``."""
    return kind in kinds and (product is None or product == of_product)


def dedupe_key(kind: str, subject: str) -> str:
    """What makes two deliveries to one hook the same: the session for a status, the
    fingerprint for a new exception group."""
    return f"{kind}:{subject}"


def session_url(public_url: str | None, session_id: str) -> str:
    """The session's page: absolute when the service's public URL is known."""
    path = f"/sessions/{quote(session_id, safe='')}"
    return public_url.rstrip("/") + path if public_url else path


def _describe(session: Mapping[str, Any]) -> str:
    product = session.get("product") or "a session"
    version = session.get("version")
    return f"{product} {version}" if version else str(product)


def session_payload(
    kind: str, session: Mapping[str, Any], at_us: int, public_url: str | None
) -> dict[str, Any]:
    """The body for a session that became ``kind`` (crashed, hung, abandoned).

    ``session`` carries id, product, version, host and status (its status now, which may
    have moved on since the transition: ``status`` is what it became, ``kind``).
    """
    url = session_url(public_url, session["id"])
    host = session.get("host")
    where = f" on {host}" if host else ""
    short = str(session["id"])[:8]
    return {
        "text": f"datacat: {_describe(session)} session {short}{where} {kind} — {url}",
        "kind": kind,
        "session_id": session["id"],
        "product": session.get("product"),
        "version": session.get("version"),
        "host": host,
        "status": kind,
        "at": to_rfc3339(at_us),
        "url": url,
    }


def exception_payload(
    fingerprint: str,
    session: Mapping[str, Any],
    data: Any,
    message: str | None,
    at_us: int,
    public_url: str | None,
) -> dict[str, Any]:
    """The body for the first exception of a new group (``fingerprint``), seen in
    ``session`` with event ``data`` and ``message``."""
    url = session_url(public_url, session["id"])
    details = data if isinstance(data, dict) else {}
    kind_of = details.get("type") or details.get("exc_type")
    said = message or details.get("message") or details.get("value")
    title = ": ".join(str(part) for part in (kind_of, said) if part) or "an exception"
    return {
        "text": f"datacat: new exception in {_describe(session)}: {title[:200]} — {url}",
        "kind": NEW_EXCEPTION,
        "fingerprint": fingerprint,
        "exception": {"type": kind_of, "message": said},
        "session_id": session["id"],
        "product": session.get("product"),
        "version": session.get("version"),
        "host": session.get("host"),
        "status": session.get("status"),
        "at": to_rfc3339(at_us),
        "url": url,
    }


def test_payload(hook_id: int, now_us: int) -> dict[str, Any]:
    """What ``datacat hooks test`` sends."""
    return {
        "text": f"datacat: test delivery for hook {hook_id}",
        "kind": "test",
        "hook_id": hook_id,
        "at": to_rfc3339(now_us),
    }


def encode(payload: Mapping[str, Any]) -> bytes:
    return orjson.dumps(payload)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers(secret: str, body: bytes, sent_us: int, delivery_id: int | None) -> dict[str, str]:
    found = {
        "Content-Type": "application/json",
        "User-Agent": "datacat-webhooks",
        SIGNATURE_HEADER: signature(secret, body),
        TIMESTAMP_HEADER: str(sent_us // 1_000_000),
    }
    if delivery_id is not None:
        found[DELIVERY_HEADER] = str(delivery_id)
    return found


def error_text(text: str) -> str:
    """A failure as kept: one line, bounded."""
    line = " ".join(text.split())
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 1] + "…"
