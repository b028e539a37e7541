"""``/login`` and ``/logout``: open and end a dashboard session (see :mod:`shipmate.web.session`)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shipmate.api.ratelimit import AuthFailureLimiter, client_address
from shipmate.api.settings import ServerSettings
from shipmate.errors import AuthenticationError, InvalidInputError, ShipmateError
from shipmate.services.auth.keys import Principal
from shipmate.services.auth.sessions import csrf_matches, end_session, start_session
from shipmate.web import session
from shipmate.web.responses import base_context, context_of, finish, unauthenticated
from shipmate.web.templating import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _session_hours(request: Request) -> str:
    hours = float(request.app.state.server.session_hours)
    if hours < 1:
        return f"{round(hours * 60)} minutes"
    return f"{hours:g} hour" + ("" if hours == 1 else "s")


def _login_page(
    request: Request,
    principal: Principal | None,
    *,
    next_url: str,
    error: str | None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    token = session.login_token(request)
    body = render(
        "login.html",
        **base_context(request, principal),
        next_url=next_url,
        error=error,
        login_csrf=token,
        session_hours=_session_hours(request),
    )
    response = HTMLResponse(body, status_code=status, headers=headers)
    session.set_login_token(response, request, token)
    return finish(response)


def _forbidden(request: Request, message: str, field: str) -> Response:
    exc = InvalidInputError(message, field=field)
    body = render("error.html", **base_context(request, None), error=exc, status=403)
    return finish(HTMLResponse(body, status_code=403))


@router.get("/login")
def login_page(request: Request) -> Response:
    try:
        current = session.viewer(request)
    except AuthenticationError as exc:
        return unauthenticated(exc)
    return _login_page(
        request,
        current,
        next_url=session.safe_next(request.query_params.get("next")),
        error=None,
    )


@router.post("/login")
async def login(request: Request) -> Response:
    """Open a session for a key.  Refused (nothing changed) when the form came from
    another site, lacks its double-submit token, or the address failed too often."""
    limiter: AuthFailureLimiter = request.app.state.auth_limiter
    address = client_address(request.scope)
    wait = limiter.retry_after(address)
    if wait is not None:
        return _login_page(
            request,
            None,
            next_url="/",
            error=limiter.refusal(wait).message,
            status=429,
            headers={"Retry-After": str(wait)},
        )
    if not session.same_origin(request):
        return _forbidden(request, "the login form was posted from another site", "origin")
    ctx = context_of(request)
    server: ServerSettings = request.app.state.server
    next_url = "/"
    try:
        form = await session.read_form(request)
        next_url = session.safe_next(form.get("next"))
        if not session.login_token_matches(request, form):
            return _login_page(
                request,
                None,
                next_url=next_url,
                error="This login form has expired or was not sent by this dashboard; "
                "log in again.",
                status=403,
            )
        token = form.get("key", "").strip()
        if not token:
            raise InvalidInputError("paste an API key to log in", field="key")
        opened = await run_in_threadpool(
            start_session, ctx, token, timedelta(hours=server.session_hours)
        )
    except ShipmateError as exc:
        failed = isinstance(exc, AuthenticationError)
        if failed:
            limiter.failed(address)
        message = "That key is not valid, or it was revoked." if failed else exc.message
        status = 401 if failed else exc.http_status
        return _login_page(request, None, next_url=next_url, error=message, status=status)
    previous = session.session_id(request)
    if previous:
        await run_in_threadpool(end_session, ctx, previous)
    response = RedirectResponse(next_url, status_code=303)
    session.set_session(response, request, opened)
    session.clear_login_token(response, request)
    return finish(response)


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session on the server.  Needs the page's CSRF token: another site
    cannot log anyone out."""
    sid = session.session_id(request)
    response = RedirectResponse("/login", status_code=303)
    if sid is None:
        return finish(response)
    try:
        form = await session.read_form(request)
    except ShipmateError as exc:
        return _forbidden(request, exc.message, exc.field or "body")
    if not session.same_origin(request) or not csrf_matches(sid, form.get("csrf")):
        return _forbidden(
            request, "the logout form was not sent by this dashboard; nothing changed", "csrf"
        )
    await run_in_threadpool(end_session, context_of(request), sid)
    session.clear_session(response, request)
    return finish(response)
