"""The API's own documentation: ``/openapi.json``, ``/docs`` (Swagger UI), ``/redoc``.

They follow ``[server] anonymous_read``: without it they need a key, as a bearer
token or a dashboard session (``GET`` only, see :mod:`shipmate.web.session`);
``/docs`` and ``/redoc`` send a browser without one to the login page.  Swagger
UI and ReDoc are served from the ``fastapi-offline`` package under
``/docs/assets/``: the pages load nothing from another host, so they work
without internet, and their Content-Security-Policy lets them reach only this
server.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from shipmate.errors import AuthenticationError
from shipmate.services.auth.keys import Principal
from shipmate.web import session
from shipmate.web.templating import Urls

__all__ = ["ASSETS", "DOCS_CSP", "router"]

router = APIRouter(include_in_schema=False)

#: The files served under ``/docs/assets/``, with their media types.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
}
#: Swagger UI starts from an inline script and ReDoc styles inline and runs a
#: worker from a blob; nothing may come from, or go to, another origin.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_HEADERS = {
    "Content-Security-Policy": DOCS_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
_loaded: dict[str, bytes] = {}


def _asset(name: str) -> bytes | None:
    if name not in ASSETS:
        return None
    if name not in _loaded:
        folder = importlib.resources.files("fastapi_offline") / "static"
        _loaded[name] = (folder / name).read_bytes()
    return _loaded[name]


def _unauthenticated(exc: AuthenticationError | None = None) -> JSONResponse:
    exc = exc or AuthenticationError(
        "log in or send an API key to read the API docs", field="authorization"
    )
    return JSONResponse(
        {"error": exc.to_dict()}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
    )


def _viewer(request: Request) -> Principal | AuthenticationError | None:
    try:
        return session.viewer(request)
    except AuthenticationError as exc:  # a bad key: 401 (counted by the rate limiter)
        return exc


def _page(request: Request, html: Response) -> Response:
    found = _viewer(request)
    if isinstance(found, AuthenticationError):
        return _unauthenticated(found)
    if found is None:
        return RedirectResponse(Urls().login(request.url.path), status_code=303)
    html.headers.update(_HEADERS)
    return html


@router.get("/openapi.json")
def openapi_document(request: Request) -> Response:
    found = _viewer(request)
    if not isinstance(found, Principal):
        return _unauthenticated(found)
    schema: dict[str, Any] = request.app.openapi()
    return JSONResponse(schema, headers={"Cache-Control": "no-store"})


@router.get("/docs")
def swagger_ui(request: Request) -> Response:
    return _docs_page(
        request,
        get_swagger_ui_html,
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/redoc")
def redoc(request: Request) -> Response:
    return _docs_page(
        request,
        get_redoc_html,
        redoc_js_url="/docs/assets/redoc.standalone.js",
        redoc_favicon_url="/static/favicon.svg",
        with_google_fonts=False,
    )


def _docs_page(request: Request, render: Callable[..., HTMLResponse], **assets: Any) -> Response:
    """A documentation page of this app's schema, rendered with its own assets."""
    html = render(openapi_url="/openapi.json", title=f"{request.app.title} API", **assets)
    return _page(request, html)


@router.get("/docs/assets/{name}")
def docs_asset(name: str) -> Response:
    content = _asset(name)
    if content is None:
        return JSONResponse(
            {"error": {"code": "not_found", "message": f"no docs asset {name!r}"}},
            status_code=404,
        )
    return Response(
        content,
        media_type=ASSETS[name],
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
