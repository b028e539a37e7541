"""Every id in a path or query string goes through one parser: no 500 on ``²``."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from shipmate.api.app import create_app
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context


@pytest.mark.parametrize(
    "path",
    ["/api/v1/runs/²", "/api/v1/runs?before=²", "/api/v1/notifications/deliveries?before_id=²"],
)
def test_non_ascii_digits_are_not_ids(ctx: Context, path: str) -> None:
    token = create_key(ctx, "admin", "admin", created_by="test").token
    app = create_app(ctx.settings, ctx=ctx)
    with TestClient(app, raise_server_exceptions=False) as client:
        got = client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 422, got.text
