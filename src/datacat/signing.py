"""Signed, expiring values for the web UI's cookies (HMAC-SHA256 over the value).

The cookie names the key it was signed in with, never the key itself: revoking the key
ends every sign-in made with it, and a stolen cookie cannot be turned into a key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


def _mac(secret: bytes, message: str) -> str:
    digest = hmac.new(secret, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(secret: bytes, value: str, max_age_s: int, now: float | None = None) -> str:
    expires = int((time.time() if now is None else now) + max_age_s)
    message = f"{value}|{expires}"
    return f"{message}|{_mac(secret, message)}"


def unsign(secret: bytes, signed: str, now: float | None = None) -> str | None:
    """The value, if ``signed`` came from ``sign`` with this secret and has not expired."""
    value, _, rest = signed.partition("|")
    expires, _, mac = rest.partition("|")
    if not expires.isdigit() or not hmac.compare_digest(mac, _mac(secret, f"{value}|{expires}")):
        return None
    if int(expires) < (time.time() if now is None else now):
        return None
    return value


def token_for(secret: bytes, purpose: str, value: str) -> str:
    """A form token bound to ``value`` (the sign-in cookie): what a cross-site page cannot
    know, so it cannot forge the form."""
    return _mac(secret, f"{purpose}:{value}")
