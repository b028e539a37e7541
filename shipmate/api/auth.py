"""Who is calling: FastAPI dependencies that turn a bearer token into a Principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from shipmate.errors import AuthenticationError, InvalidInputError
from shipmate.services.auth.keys import Principal, Scope, VerifiedKeys, authenticate

__all__ = ["Admin", "Reader", "Writer", "admin", "agent", "reader", "writer"]


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationError("Invalid authentication credentials", field="authorization")
    return value.strip()


async def _principal(request: Request, scope: Scope) -> Principal:
    """``async``: a token verified moments ago (:class:`VerifiedKeys`) costs no
    database read and no hop to the thread pool; only a new one goes there, and,
    at most every :data:`~shipmate.services.auth.keys.REVOCATION_CHECK_SECONDS`, the
    read of the revocation mark that lets a key revoked anywhere stop working here."""
    token = _token(request)
    if token is None and scope == Scope.READ and request.app.state.server.anonymous_read:
        return Principal(name=None, scope=Scope.READ)
    ctx = request.app.state.ctx
    verified: VerifiedKeys = request.app.state.verified_keys
    principal = None
    if token:
        if verified.stale():
            await run_in_threadpool(verified.check_revocations, ctx)
        principal = verified.get(token)
    if principal is None:
        epoch = verified.epoch
        principal = await run_in_threadpool(authenticate, ctx, token)
        if token:
            verified.remember(token, principal, epoch)
    principal.require(scope)
    return principal


async def reader(request: Request) -> Principal:
    return await _principal(request, Scope.READ)


async def writer(request: Request) -> Principal:
    return await _principal(request, Scope.WRITE)


async def admin(request: Request) -> Principal:
    return await _principal(request, Scope.ADMIN)


async def agent(request: Request) -> Principal:
    """An ``agent`` key, and no other (the agent routes)."""
    return await _principal(request, Scope.AGENT)


#: A route's caller, with the scope it needs: ``principal: Reader`` in its signature.
Reader = Annotated[Principal, Depends(reader)]
Writer = Annotated[Principal, Depends(writer)]
Admin = Annotated[Principal, Depends(admin)]


def scoped_product(principal: Principal, product: str | None) -> str | None:
    """The product a read is limited to: the one asked for (which the key must reach),
    else a product-limited key's only product; a key limited to several products must
    name one.  ``None``: every product (an unrestricted key asking for none)."""
    if product is not None:
        principal.require_product(product)
        return product
    if len(principal.products) == 1:
        return principal.products[0]
    if principal.products:
        raise InvalidInputError(
            "this key is limited to several products; name one with ?product=", field="product"
        )
    return None
