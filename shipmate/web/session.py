"""Who is looking at the dashboard: a server-side session, opened by logging in with a key.

Logging in (``POST /login`` with an API key) opens a session
(:mod:`shipmate.services.auth.sessions`): the cookie ``shipmate_session`` holds a random
session id, never the key; the database holds only the id's hash, the key it
belongs to and when it expires (``[server] session_hours``).  Logging out ends
it on the server, and revoking the key ends it too: every request reads the
session and its key.

Cookies are ``HttpOnly``, ``SameSite=Lax``, ``Path=/`` and ``Secure`` when users
come over HTTPS: ``[server] public_url`` starts with ``https://``, or the request
came over HTTPS (directly, or as ``X-Forwarded-Proto: https`` from a proxy).

What a session cookie is accepted for, exactly:

* ``GET``/``HEAD`` of the dashboard's pages, their JSON twins (``?format=json``),
  ``/live``, and the API documentation (``/docs``, ``/redoc``, ``/openapi.json``);
* a dashboard form (``POST``, e.g. ``/logout``) only together with the form's CSRF
  token (:func:`shipmate.services.auth.sessions.csrf_token`) and a same-site ``Origin``;
* nothing else: ``/api/...``, the Versioner and bloqr routes read only the
  ``Authorization`` header, and a session id is not an API key.

The login form itself is protected by a double-submit token: ``GET /login`` sets
``shipmate_login`` (random) and puts the same value in the form, and the post must
carry both, so another site cannot log a browser in with the attacker's key.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

from fastapi import Request, Response

from shipmate.errors import AuthenticationError, InvalidInputError
from shipmate.services.auth.keys import Principal, Scope, authenticate
from shipmate.services.auth.sessions import Session, csrf_matches, csrf_token, session_principal
from shipmate.services.context import Context

__all__ = [
    "COOKIE_NAME",
    "LOGIN_COOKIE",
    "clear_session",
    "form_csrf",
    "is_https",
    "login_token",
    "read_form",
    "safe_next",
    "same_origin",
    "session_id",
    "set_login_token",
    "set_session",
    "viewer",
]

COOKIE_NAME = "shipmate_session"
LOGIN_COOKIE = "shipmate_login"
_LOGIN_COOKIE_MAX_AGE = 3600
_MAX_FORM_BYTES = 8 * 1024
_READS = frozenset({"GET", "HEAD"})


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def session_id(request: Request) -> str | None:
    return request.cookies.get(COOKIE_NAME) or None


def viewer(request: Request) -> Principal | None:
    """The principal of a page request (``GET``/``HEAD``), or None when it must log in.

    A bearer token counts for any method; the session cookie only for reads: a
    form is checked by :func:`form_viewer` instead, with its CSRF token.  A bad
    ``Authorization`` header raises AuthenticationError: the caller answers 401,
    which the rate limiter counts (a login page instead would let anyone test
    keys without limit)."""
    ctx: Context = request.app.state.ctx
    if request.headers.get("authorization"):
        token = _bearer(request)
        if token is None:
            raise AuthenticationError("Invalid authentication credentials", field="authorization")
        principal = authenticate(ctx, token)
        principal.require(Scope.READ)
        return principal
    sid = session_id(request)
    if sid and request.method in _READS:
        found = session_principal(ctx, sid)
        if found is not None:
            return found
    if request.app.state.server.anonymous_read:
        return Principal(name=None, scope=Scope.READ)
    return None


def form_viewer(request: Request, form: dict[str, str]) -> Principal | None:
    """The principal of a posted dashboard form: its session, only when the form
    carries that session's CSRF token and came from this site."""
    sid = session_id(request)
    if not sid or not same_origin(request) or not csrf_matches(sid, form.get("csrf")):
        return None
    return session_principal(request.app.state.ctx, sid)


def form_csrf(request: Request) -> str | None:
    """The CSRF token this request's session puts into its forms (None without one)."""
    sid = session_id(request)
    return csrf_token(sid) if sid else None


def is_https(request: Request) -> bool:
    if request.app.state.server.https:
        return True
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


@dataclass(frozen=True)
class _Cookie:
    """One of the dashboard's cookies: HTTP-only, secure over HTTPS, sent only to
    ``path`` and with the ``samesite`` policy it needs."""

    name: str
    path: str
    samesite: Literal["lax", "strict"]

    def _attributes(self, request: Request) -> dict[str, Any]:
        return {
            "path": self.path,
            "httponly": True,
            "samesite": self.samesite,
            "secure": is_https(request),
        }

    def set(self, response: Response, request: Request, value: str, *, max_age: int) -> None:
        response.set_cookie(self.name, value, max_age=max_age, **self._attributes(request))

    def clear(self, response: Response, request: Request) -> None:
        response.delete_cookie(self.name, **self._attributes(request))


_SESSION_COOKIE = _Cookie(COOKIE_NAME, path="/", samesite="lax")
_LOGIN_TOKEN_COOKIE = _Cookie(LOGIN_COOKIE, path="/login", samesite="strict")


def set_session(response: Response, request: Request, session: Session) -> None:
    _SESSION_COOKIE.set(
        response, request, session.id, max_age=int(session.lifetime.total_seconds())
    )


def clear_session(response: Response, request: Request) -> None:
    _SESSION_COOKIE.clear(response, request)


def login_token(request: Request) -> str:
    """The login form's double-submit token: the browser's, or a new one."""
    current = request.cookies.get(LOGIN_COOKIE, "")
    if 20 <= len(current) <= 64 and current.replace("-", "").replace("_", "").isalnum():
        return current
    return secrets.token_urlsafe(24)


def set_login_token(response: Response, request: Request, token: str) -> None:
    _LOGIN_TOKEN_COOKIE.set(response, request, token, max_age=_LOGIN_COOKIE_MAX_AGE)


def clear_login_token(response: Response, request: Request) -> None:
    _LOGIN_TOKEN_COOKIE.clear(response, request)


def login_token_matches(request: Request, form: dict[str, str]) -> bool:
    cookie = request.cookies.get(LOGIN_COOKIE)
    sent = form.get("csrf")
    return bool(cookie) and bool(sent) and hmac.compare_digest(str(cookie), str(sent))


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a path on this site, never another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(c) < 32 for c in value):
        return "/"
    return value


async def read_form(request: Request) -> dict[str, str]:
    """The posted ``application/x-www-form-urlencoded`` fields (first value of each)."""
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise InvalidInputError("the form is too large", field="body")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise InvalidInputError("the form could not be read", field="body") from None
    return {name: values[0] for name, values in fields.items() if values}


def same_origin(request: Request) -> bool:
    """False when the browser says the form came from another site.

    ``Origin`` must be this server as the browser addressed it (``Host``) or
    ``[server] public_url``; a form without ``Origin`` (old browsers) passes on
    its CSRF token alone, ``Origin: null`` does not."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    public = request.app.state.server.public_url
    if public and origin.lower() == public:
        return True
    host = request.headers.get("host", "")
    return bool(host) and origin.split("://", 1)[-1].lower() == host.lower()
