"""How dashboard pages answer: HTML or their JSON twin, errors as pages, login redirects.

A page handler builds a :class:`Page` (template, context, JSON twin) from a
:class:`~shipmate.services.auth.keys.Principal`; :func:`handle` checks the session,
turns any :class:`~shipmate.errors.ShipmateError` into an HTML page naming the
field (or the API's error object for a twin), and adds the security headers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from shipmate.api.errors import error_headers, public_store_error
from shipmate.errors import AuthenticationError, InvalidInputError, ShipmateError, StoreError
from shipmate.services.auth.keys import Principal
from shipmate.services.catalog import listing as catalog
from shipmate.services.context import Context
from shipmate.services.dora import DEFAULT_DAYS, MAX_DAYS
from shipmate.web import session
from shipmate.web.templating import Urls, render

__all__ = [
    "SECURITY_HEADERS",
    "Page",
    "base_context",
    "context_of",
    "days_param",
    "error_page",
    "finish",
    "handle",
    "html_page",
    "int_param",
    "login_url",
    "param",
    "unauthenticated",
    "visible_products",
    "wants_json",
]

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def context_of(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def wants_json(request: Request) -> bool:
    return request.query_params.get("format") == "json"


def param(request: Request, name: str, *, max_length: int = 255) -> str | None:
    value = request.query_params.get(name)
    if value is None or not value.strip():
        return None
    if len(value) > max_length:
        raise InvalidInputError(f"{name} is longer than {max_length} characters", field=name)
    return value.strip()


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = param(request, name, max_length=12)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidInputError(f"{name} must be a whole number from {low} to {high}", field=name)
    return int(text)


def days_param(request: Request) -> int:
    return int_param(request, "days", DEFAULT_DAYS, 1, MAX_DAYS)


def finish(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def base_context(request: Request, principal: Principal | None) -> dict[str, Any]:
    return {
        "principal": principal,
        "anonymous_read": request.app.state.server.anonymous_read,
        "path": request.url.path,
        "full_path": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "csrf_token": session.form_csrf(request),
    }


def html_page(
    request: Request, principal: Principal | None, template: str, **context: Any
) -> Response:
    return finish(HTMLResponse(render(template, **base_context(request, principal), **context)))


def error_page(request: Request, principal: Principal | None, exc: ShipmateError) -> Response:
    if isinstance(exc, StoreError):  # an outage, logged once by the engine
        exc = public_store_error(exc)
    headers = error_headers(exc)
    if wants_json(request):
        return finish(
            JSONResponse({"error": exc.to_dict()}, status_code=exc.http_status, headers=headers)
        )
    body = render(
        "error.html", **base_context(request, principal), error=exc, status=exc.http_status
    )
    return finish(HTMLResponse(body, status_code=exc.http_status, headers=headers))


@dataclass(frozen=True)
class Page:
    """What a page handler returns: its template and context, and its JSON twin
    (or a function making it, called only when JSON was asked for)."""

    template: str
    context: dict[str, Any]
    data: Any

    def json_data(self) -> Any:
        return self.data() if callable(self.data) else self.data


def unauthenticated(exc: AuthenticationError) -> Response:
    return finish(
        JSONResponse(
            {"error": exc.to_dict()}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    )


def handle(request: Request, build: Callable[[Principal], Page | Response]) -> Response:
    try:
        principal = session.viewer(request)
    except AuthenticationError as bad:  # a bad Authorization header: 401, never a login page
        return unauthenticated(bad)
    except StoreError as exc:  # the database is unavailable: say so as a page, not as JSON
        return error_page(request, None, exc)
    if principal is None:
        if wants_json(request) or request.query_params.get("fragment"):
            return unauthenticated(
                AuthenticationError("log in with an API key first", field="authorization")
            )
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = RedirectResponse(login_url(target), status_code=303)
        if request.cookies.get(session.COOKIE_NAME):
            session.clear_session(response, request)  # revoked or unknown: start over
        return finish(response)
    try:
        page = build(principal)
    except ShipmateError as exc:
        return error_page(request, principal, exc)
    if isinstance(page, Response):
        return finish(page)
    if wants_json(request):
        return finish(JSONResponse(page.json_data()))
    return html_page(request, principal, page.template, **page.context)


def login_url(target: str) -> str:
    return Urls().login(None if target == "/" else target)


def visible_products(ctx: Context, principal: Principal) -> list[str]:
    names = [p.name for p in catalog.list_products(ctx)]
    return [n for n in names if n in principal.products] if principal.products else names
