"""Who is calling: FastAPI dependencies that turn a bearer token into a Principal."""

from __future__ import annotations

from fastapi import Request

from shipmate.errors import AuthenticationError
from shipmate.services.keys import Principal, Scope, authenticate

__all__ = ["admin", "reader", "writer"]


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationError("Invalid authentication credentials", field="authorization")
    return value.strip()


def _principal(request: Request, scope: Scope) -> Principal:
    token = _token(request)
    if token is None and scope == Scope.READ and request.app.state.server.anonymous_read:
        return Principal(name=None, scope=Scope.READ)
    principal = authenticate(request.app.state.ctx, token)
    principal.require(scope)
    return principal


def reader(request: Request) -> Principal:
    return _principal(request, Scope.READ)


def writer(request: Request) -> Principal:
    return _principal(request, Scope.WRITE)


def admin(request: Request) -> Principal:
    return _principal(request, Scope.ADMIN)
