"""Signing in to the web UI with a read or admin key, and signing out.

The key is checked once and never stored in the browser: the cookie holds the key's
prefix, signed (``datacat.signing``), HttpOnly and ``SameSite=Strict``, so scripts cannot
read it and other sites cannot make the browser send it. The sign-in form itself is
protected against login CSRF by a double-submit token (a random value in a cookie that
only this form's path receives, repeated in a hidden field) and an ``Origin`` check.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from datacat import scopes, signing
from datacat.auth import COOKIE, COOKIE_MAX_AGE_S, Access, cookie

CSRF_COOKIE = "datacat_csrf"
FORM_MAX_BYTES = 4096

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def _templates() -> Jinja2Templates:
    from datacat_web.views import templates  # views imports this module

    return templates


def safe_next(value: str | None) -> str:
    """Only a path on this site: ``next=//evil.example`` must not send people away."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(value)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _access(request: Request) -> Access:
    access: Access = request.app.state.access
    return access


def account(request: Request) -> dict[str, Any]:
    """What every page's header needs: the open-network banner, or the sign-out form."""
    access = _access(request)
    value = cookie(request.scope, COOKIE)
    signed_in = access.enabled and value is not None and access.cookie_principal(value)
    return {
        "exposed": access.exposed,
        # The hints' curl lines must work as shown: with auth on, they need a key.
        "curl_auth": ' -H "Authorization: Bearer $DATACAT_API_KEY"' if access.enabled else "",
        "signout_token": signing.token_for(access.secret, "signout", value)
        if signed_in and value
        else None,
    }


def _form(request: Request, next_path: str, error: str | None, status: int) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    context = {"nav": "", "next": next_path, "csrf": token, "error": error, **account(request)}
    response = _templates().TemplateResponse(request, "signin.html", context, status_code=status)
    response.set_cookie(
        CSRF_COOKIE,
        token,
        max_age=3600,
        path="/signin",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _fields(body: bytes) -> dict[str, str]:
    """A url-encoded form, read without python-multipart (a dependency for two fields)."""
    text = body[:FORM_MAX_BYTES].decode("utf-8", "replace")
    return {name: values[0] for name, values in parse_qs(text).items()}


@router.get("/signin")
async def sign_in_form(request: Request, next: str = "/") -> Response:
    if not _access(request).enabled:
        return RedirectResponse(safe_next(next), status_code=303)
    return _form(request, safe_next(next), None, 200)


@router.post("/signin")
async def sign_in(request: Request) -> Response:
    access = _access(request)
    body = await request.body()
    fields = {
        k: v[0] for k, v in parse_qs(body[:FORM_MAX_BYTES].decode("utf-8", "replace")).items()
    }
    next_path = safe_next(fields.get("next"))
    if not access.enabled:
        return RedirectResponse(next_path, status_code=303)
    expected = cookie(request.scope, CSRF_COOKIE) or ""
    origin = request.headers.get("origin")
    own_origin = f"{request.url.scheme}://{request.url.netloc}"
    if (
        not expected
        or not hmac.compare_digest(expected, fields.get("csrf", ""))
        or (origin is not None and origin != own_origin)
    ):
        return _form(
            request, next_path, "The form expired or came from another site; sign in again.", 403
        )
    found = access.principal(fields.get("key", "").strip())
    if found is None:
        return _form(request, next_path, "That key is not valid, or it has been revoked.", 401)
    if not scopes.allows(found.scope, scopes.PAGE):
        return _form(
            request,
            next_path,
            f"This is an {found.scope} key, which can only write. "
            "Sign in with a read or admin key.",
            403,
        )
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        COOKIE,
        signing.sign(access.secret, found.prefix, COOKIE_MAX_AGE_S),
        max_age=COOKIE_MAX_AGE_S,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(CSRF_COOKIE, path="/signin")
    return response


@router.post("/signout")
async def sign_out(request: Request) -> Response:
    access = _access(request)
    value = cookie(request.scope, COOKIE)
    body = await request.body()
    fields = {
        k: v[0] for k, v in parse_qs(body[:FORM_MAX_BYTES].decode("utf-8", "replace")).items()
    }
    if value is not None and not hmac.compare_digest(
        fields.get("token", ""), signing.token_for(access.secret, "signout", value)
    ):
        return HTMLResponse("Sign-out came from another site; nothing was done.", status_code=403)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
