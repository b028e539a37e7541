"""Archived products and environments leave the dashboard's matrix; their pages stay."""

from __future__ import annotations

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from shipmate.services.catalog.changes import apply_change
from shipmate.services.context import Context
from tests.web.conftest import login
from tests.web.seed import Seeded


def test_archived_ones_leave_the_matrix(
    web: TestClient, seeded: Seeded, tokens: dict[str, str], ctx: Context
) -> None:
    apply_change(ctx, "product", "archive", "notifications")
    apply_change(ctx, "environment", "archive", "dev")
    login(web, tokens["read"])
    page = BeautifulSoup(web.get("/").text, "html.parser")
    heads = [th.select_one(".env").text for th in page.select("table.matrix thead th")[1:]]
    assert heads == ["staging", "production"]
    rows = [a.text for a in page.select("table.matrix tbody th a")]
    assert rows == ["auth-service", "payments-api", "search-worker", "storefront"]
    assert web.get("/products/notifications").status_code == 200
