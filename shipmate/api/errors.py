"""The one place exceptions become HTTP responses.

shipmate's own routes answer ``{"error": {"code", "message", "field", "details"}}``.
The compatibility routes answer in the shape their clients parse: Versioner's
``{"detail": ...}`` (a string, a list of ``{loc, msg, type}`` for 422, or the gate
object) and bloqr's ``{"success": false, "error": ...}``.  The status code comes
from the exception class (``ShipmateError.http_status``), never from a handler.

A database that cannot be reached is 503 ``store_error`` with ``Retry-After`` on
every route, with a fixed message (:func:`public_store_error`): the cause may name
the database's host, so it goes to the server's log, once per outage.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shipmate.errors import (
    RETRY_AFTER_SECONDS,
    AuthenticationError,
    DatabaseUnavailableError,
    GateBlockedError,
    InvalidInputError,
    ShipmateError,
    StoreError,
)

__all__ = ["error_headers", "install_error_handlers", "public_store_error"]

log = logging.getLogger("shipmate.api")


def _flavour(request: Request) -> str:
    path = request.url.path
    base = request.app.state.server.versioner_base
    if path.rstrip("/").endswith(
        ("/build-events", "/deployment-events", "/version-events")
    ) and path.startswith(base or "/"):
        return "versioner"
    if path.startswith("/api/") and not path.startswith("/api/v1"):
        return "bloqr"
    return "shipmate"


#: The services' field names as the Versioner wire protocol spells them.
_VERSIONER_FIELDS = {
    "product": "product_name",
    "environment": "environment_name",
    "commit": "scm_sha",
    "branch": "scm_branch",
    "repository": "scm_repository",
    "metadata": "extra_metadata",
}


def _status(exc: ShipmateError) -> int:
    if isinstance(exc, GateBlockedError):
        return int(exc.details.get("http_status", exc.http_status))
    return exc.http_status


def public_store_error(exc: StoreError) -> StoreError:
    """What a client is told of a store error: that the database is unavailable and
    when to retry, never the cause (logged once per outage by shipmate.store.outage;
    another store error is logged by the caller)."""
    retry_after = int(exc.details.get("retry_after", RETRY_AFTER_SECONDS))
    return StoreError(
        f"the database is unavailable; try again in {retry_after} s", retry_after=retry_after
    )


def error_headers(exc: ShipmateError) -> dict[str, str] | None:
    """The headers an error's answer carries, on every route (dashboard pages too)."""
    if isinstance(exc, AuthenticationError):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, StoreError):
        return {"Retry-After": str(exc.details.get("retry_after", RETRY_AFTER_SECONDS))}
    return None


def error_response(request: Request, exc: ShipmateError) -> JSONResponse:
    if isinstance(exc, StoreError):
        if not isinstance(exc, DatabaseUnavailableError):
            log.warning("store error: %s", exc.message)  # not an outage: not logged yet
        exc = public_store_error(exc)
    status = _status(exc)
    flavour = _flavour(request)
    headers = error_headers(exc)
    body: dict[str, Any]
    if flavour == "versioner":
        body = versioner_error_body(request.url.path, exc, status)
    elif flavour == "bloqr":
        body = {"success": False, "error": exc.message, "code": exc.code}
    else:
        body = {"error": exc.to_dict()}
    return JSONResponse(body, status_code=status, headers=headers)


def versioner_error_body(path: str, exc: ShipmateError, status: int) -> dict[str, Any]:
    """Versioner's shapes.  Both Versioner clients read every 409, 423 and 428 from
    ``deployment-events`` as a gate refusal and print ``detail.message``, so those
    answer the gate object's shape whatever refused them (a commit conflict says
    ``VERSION_COMMIT_CONFLICT`` and carries both commits).  The Action reads a build
    refusal's top-level ``message``, so a build's refusal carries one too."""
    if isinstance(exc, GateBlockedError) and "versioner_detail" in exc.details:
        return {"detail": exc.details["versioner_detail"]}
    if status in (413, 422):
        loc = ["body"]
        if exc.field:
            first, *rest = exc.field.split(".")
            loc += [_VERSIONER_FIELDS.get(first, first), *rest]
        return {"detail": [{"loc": loc, "msg": exc.message, "type": exc.code}]}
    refused = status in (409, 423, 428)
    if refused and path.rstrip("/").endswith("/deployment-events"):
        detail: dict[str, Any] = {
            **{k: v for k, v in exc.details.items() if isinstance(v, str | int | bool)},
            "error": exc.code,
            "code": exc.code.upper(),
            "message": exc.message,
            "details": {**({"field": exc.field} if exc.field else {}), **exc.details},
        }
        return {"detail": detail}
    if refused:
        return {"detail": exc.message, "message": exc.message, "code": exc.code.upper()}
    return {"detail": exc.message}


def _validation_message(err: dict[str, Any]) -> tuple[str, str]:
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
    field = ".".join(loc) or "body"
    return field, f"{field}: {err.get('msg', 'invalid')}"


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.url.path):
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ShipmateError)
    async def _shipmate(request: Request, exc: ShipmateError) -> JSONResponse:
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": list(e.get("loc", ())),
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        flavour = _flavour(request)
        if flavour == "versioner":
            return JSONResponse({"detail": errors}, status_code=422)
        field, message = _validation_message(errors[0]) if errors else ("body", "invalid request")
        if flavour == "bloqr":
            return JSONResponse({"success": False, "error": message, "code": "invalid_input"}, 422)
        return JSONResponse(
            {
                "error": {
                    "code": "invalid_input",
                    "message": message,
                    "field": field,
                    "details": {"errors": errors},
                }
            },
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # A body FastAPI could not even decode (not UTF-8, not JSON): bad input, 422.
            return error_response(request, InvalidInputError(f"body: {exc.detail}", field="body"))
        message = str(exc.detail)
        flavour = _flavour(request)
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405 and "Allow" not in headers:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        body: dict[str, Any]
        if flavour == "versioner":
            body = {"detail": message}
        elif flavour == "bloqr":
            body = {"success": False, "error": message}
        else:
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
            body = {"error": {"code": code, "message": message}}
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"error": {"code": "internal_error", "message": "internal error; see the server log"}},
            status_code=500,
        )
