from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context


@pytest.fixture
def tokens(ctx: Context) -> dict[str, str]:
    return {
        scope: create_key(ctx, f"{scope}-key", scope).token for scope in ("read", "write", "admin")
    } | {"api-only": create_key(ctx, "api-only", "write", ["api"]).token}


@pytest.fixture
def server_settings() -> ServerSettings:
    return ServerSettings(default_product="api")


@pytest.fixture
def client(ctx: Context, server_settings: ServerSettings) -> Iterator[TestClient]:
    app = create_app(ctx.settings, ctx=ctx, server=server_settings)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
