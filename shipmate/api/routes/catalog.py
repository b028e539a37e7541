"""``/api/v1/products/...`` and ``/api/v1/environments/...``: declare, rename, merge,
archive, unarchive (admin).

A key limited to products renames, merges (both sides) and archives only its own
products; environments are shared by every product, so changing one needs an admin
key that is not limited to products.  Every answer is the change as
:meth:`~shipmate.store.catalog_moves.CatalogChange.to_dict` gives it (``changed``
false when the request repeats one already done).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from shipmate.api.auth import admin
from shipmate.api.schemas import COMMON_ERRORS, ErrorBody, MergeBody, NameBody, error_responses
from shipmate.services.auth.keys import Principal
from shipmate.services.catalog import changes
from shipmate.services.context import Context

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", responses=error_responses(ErrorBody, *COMMON_ERRORS))

Admin = Annotated[Principal, Depends(admin)]

_SHARED = "an environment (shared by every product)"


def _apply(
    request: Request,
    principal: Principal,
    kind: str,
    action: str,
    name: str,
    other: str | None = None,
) -> dict[str, Any]:
    ctx: Context = request.app.state.ctx
    change = changes.apply_change(
        ctx, kind, action, name, other, actor=principal.name, key_name=principal.name
    )
    return change.to_dict()


def _env(
    request: Request, principal: Principal, action: str, name: str, other: str | None = None
) -> dict[str, Any]:
    principal.require_unrestricted(f"to {action} {_SHARED}")
    return _apply(request, principal, "environment", action, name, other)


@router.post("/products", status_code=201, summary="Declare a product (admin)")
def post_product(request: Request, body: NameBody, principal: Admin) -> dict[str, Any]:
    principal.require_product(body.name)
    return _apply(request, principal, "product", "declare", body.name)


@router.post("/products/{product}/rename", summary="Rename a product, history and all (admin)")
def rename_product(
    request: Request, product: str, body: NameBody, principal: Admin
) -> dict[str, Any]:
    principal.require_product(product)
    return _apply(request, principal, "product", "rename", product, body.name)


@router.post("/products/{product}/merge", summary="Merge a product into another (admin)")
def merge_product(
    request: Request, product: str, body: MergeBody, principal: Admin
) -> dict[str, Any]:
    principal.require_product(product)
    principal.require_product(body.into)
    return _apply(request, principal, "product", "merge", product, body.into)


@router.post("/products/{product}/archive", summary="Take a product out of the matrix (admin)")
def archive_product(request: Request, product: str, principal: Admin) -> dict[str, Any]:
    principal.require_product(product)
    return _apply(request, principal, "product", "archive", product)


@router.post("/products/{product}/unarchive", summary="Bring an archived product back (admin)")
def unarchive_product(request: Request, product: str, principal: Admin) -> dict[str, Any]:
    principal.require_product(product)
    return _apply(request, principal, "product", "unarchive", product)


@router.post("/environments/{name}/rename", summary="Rename an environment (unrestricted admin)")
def rename_environment(
    request: Request, name: str, body: NameBody, principal: Admin
) -> dict[str, Any]:
    return _env(request, principal, "rename", name, body.name)


@router.post("/environments/{name}/merge", summary="Merge an environment (unrestricted admin)")
def merge_environment(
    request: Request, name: str, body: MergeBody, principal: Admin
) -> dict[str, Any]:
    return _env(request, principal, "merge", name, body.into)


@router.post("/environments/{name}/archive", summary="Archive an environment (unrestricted admin)")
def archive_environment(request: Request, name: str, principal: Admin) -> dict[str, Any]:
    return _env(request, principal, "archive", name)


@router.post("/environments/{name}/unarchive", summary="Unarchive (unrestricted admin)")
def unarchive_environment(request: Request, name: str, principal: Admin) -> dict[str, Any]:
    return _env(request, principal, "unarchive", name)
