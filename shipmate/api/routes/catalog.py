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
from pydantic import BaseModel, ConfigDict, Field

from shipmate.api.auth import admin
from shipmate.api.schemas import COMMON_ERRORS, ErrorBody, error_responses
from shipmate.services.auth.keys import Principal
from shipmate.services.catalog import changes
from shipmate.services.context import Context

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", responses=error_responses(ErrorBody, *COMMON_ERRORS))

Admin = Annotated[Principal, Depends(admin)]

_SHARED = "an environment (shared by every product)"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NameBody(_Body):
    name: str = Field(max_length=255)


class MergeBody(_Body):
    into: str = Field(max_length=255)


def _ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


@router.post("/products", status_code=201, summary="Declare a product (admin)")
def post_product(request: Request, body: NameBody, principal: Admin) -> dict[str, Any]:
    principal.require_product(body.name)
    return changes.declare(
        _ctx(request), "product", body.name, actor=principal.name, key_name=principal.name
    ).to_dict()


@router.post("/products/{product}/rename", summary="Rename a product, history and all (admin)")
def rename_product(
    request: Request, product: str, body: NameBody, principal: Admin
) -> dict[str, Any]:
    principal.require_product(product)
    ctx = _ctx(request)
    return changes.rename_to(
        ctx, "product", product, body.name, actor=principal.name, key_name=principal.name
    ).to_dict()


@router.post("/products/{product}/merge", summary="Merge a product into another (admin)")
def merge_product(
    request: Request, product: str, body: MergeBody, principal: Admin
) -> dict[str, Any]:
    principal.require_product(product)
    principal.require_product(body.into)
    ctx = _ctx(request)
    return changes.merge_into(
        ctx, "product", product, body.into, actor=principal.name, key_name=principal.name
    ).to_dict()


@router.post("/products/{product}/archive", summary="Take a product out of the matrix (admin)")
def archive_product(request: Request, product: str, principal: Admin) -> dict[str, Any]:
    principal.require_product(product)
    return changes.archive(
        _ctx(request), "product", product, actor=principal.name, key_name=principal.name
    ).to_dict()


@router.post("/products/{product}/unarchive", summary="Bring an archived product back (admin)")
def unarchive_product(request: Request, product: str, principal: Admin) -> dict[str, Any]:
    principal.require_product(product)
    ctx = _ctx(request)
    return changes.archive(
        ctx, "product", product, False, actor=principal.name, key_name=principal.name
    ).to_dict()


@router.post("/environments/{name}/rename", summary="Rename an environment (unrestricted admin)")
def rename_environment(
    request: Request, name: str, body: NameBody, principal: Admin
) -> dict[str, Any]:
    principal.require_unrestricted(f"renaming {_SHARED}")
    ctx = _ctx(request)
    return changes.rename_to(
        ctx, "environment", name, body.name, actor=principal.name, key_name=principal.name
    ).to_dict()


@router.post(
    "/environments/{name}/merge", summary="Merge an environment into another (unrestricted admin)"
)
def merge_environment(
    request: Request, name: str, body: MergeBody, principal: Admin
) -> dict[str, Any]:
    principal.require_unrestricted(f"merging {_SHARED}")
    ctx = _ctx(request)
    return changes.merge_into(
        ctx, "environment", name, body.into, actor=principal.name, key_name=principal.name
    ).to_dict()


@router.post(
    "/environments/{name}/archive",
    summary="Take an environment out of the matrix (unrestricted admin)",
)
def archive_environment(request: Request, name: str, principal: Admin) -> dict[str, Any]:
    principal.require_unrestricted(f"archiving {_SHARED}")
    return changes.archive(
        _ctx(request), "environment", name, actor=principal.name, key_name=principal.name
    ).to_dict()


@router.post(
    "/environments/{name}/unarchive",
    summary="Bring an archived environment back (unrestricted admin)",
)
def unarchive_environment(request: Request, name: str, principal: Admin) -> dict[str, Any]:
    principal.require_unrestricted(f"unarchiving {_SHARED}")
    ctx = _ctx(request)
    return changes.archive(
        ctx, "environment", name, False, actor=principal.name, key_name=principal.name
    ).to_dict()
