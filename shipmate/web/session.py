"""Who is looking at the dashboard: the same API keys as the API, kept in a cookie.

Decision: the session cookie holds the API key itself (``shipmate_session``),
``HttpOnly`` (scripts cannot read it), ``SameSite=Lax`` (not sent with
cross-site posts or sub-requests), ``Secure`` when the request came over HTTPS
(directly or as ``X-Forwarded-Proto: https``), ``Path=/`` and a lifetime of
:data:`COOKIE_MAX_AGE`.  No server-side session and no signing secret exist, so
every replica of ``shipmate serve`` accepts it, and revoking the key ends the
session at once: each page checks the key again.  Only the dashboard's pages
read the cookie; ``/api/...`` routes take the ``Authorization`` header only, so
the cookie never authorises a write.

Any key (read, write or admin) may log in; pages only read.  A key limited to
some products sees only those.  With ``[server] anonymous_read = true`` pages
are open without logging in.  The JSON twins also accept ``Authorization:
Bearer <key>``.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import Request, Response

from shipmate.errors import AuthenticationError, InvalidInputError
from shipmate.services.context import Context
from shipmate.services.keys import Principal, Scope, authenticate

__all__ = [
    "COOKIE_MAX_AGE",
    "COOKIE_NAME",
    "clear_session",
    "is_https",
    "login_form",
    "safe_next",
    "set_session",
    "viewer",
]

COOKIE_NAME = "shipmate_session"
COOKIE_MAX_AGE = 7 * 24 * 3600
_MAX_FORM_BYTES = 8 * 1024


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def viewer(request: Request) -> Principal | None:
    """The principal of this request, or None when it must log in first."""
    ctx: Context = request.app.state.ctx
    token = _bearer(request) or request.cookies.get(COOKIE_NAME)
    if token:
        try:
            principal = authenticate(ctx, token)
        except AuthenticationError:
            return None
        principal.require(Scope.READ)
        return principal
    if request.app.state.server.anonymous_read:
        return Principal(name=None, scope=Scope.READ)
    return None


def is_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def set_session(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


def clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=is_https(request)
    )


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a path on this site, never another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(c) < 32 for c in value):
        return "/"
    return value


async def login_form(request: Request) -> dict[str, str]:
    """The posted ``application/x-www-form-urlencoded`` fields (first value of each)."""
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise InvalidInputError("the login form is too large", field="key")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise InvalidInputError("the login form could not be read", field="key") from None
    return {name: values[0] for name, values in fields.items() if values}


def same_origin(request: Request) -> bool:
    """False when the browser says the form came from another site."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host
