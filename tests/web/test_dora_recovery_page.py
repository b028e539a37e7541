"""The product page after a rollback mark: the failure recovered when the previous version
served again, not "not recovered yet" days later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from shipmate.demo.clock import FakeClock
from shipmate.domain.requests import RecordRequest
from shipmate.services.context import Context
from shipmate.services.records.deployments import record_deployment
from shipmate.services.records.rollbackmarks import mark_rollback
from tests.web.conftest import login


def test_a_marked_rollback_shows_as_recovered_on_the_product_page(
    web: TestClient, ctx: Context, clock: FakeClock, tokens: dict[str, str]
) -> None:
    first = datetime(2026, 11, 1, 10, tzinfo=UTC)
    ids = []
    for version, at in (("1.0.0", first), ("1.1.0", first + timedelta(days=2))):
        clock.set(at)
        ids.append(
            record_deployment(
                ctx,
                RecordRequest(
                    product="billing", environment="production", version=version, status="completed"
                ),
            ).id
        )
    clock.set(first + timedelta(days=2, minutes=20))
    mark_rollback(ctx, str(ids[1]), reason="errors went up")
    clock.set(first + timedelta(days=14))  # twelve days later, nothing else deployed
    login(web, tokens["read"])
    page = BeautifulSoup(web.get("/products/billing?days=30").text, "html.parser")
    tiles = {t.h3.text: t for t in page.select(".tile")}
    recovery = tiles["Recovery time"]
    assert "not recovered" not in recovery.text
    assert recovery.select_one(".big").text.startswith("20m")
    assert "1 recovered" in recovery.select_one(".sub").text
    failure_rate = tiles["Change failure rate"].select_one(".sub").text
    assert "1 of 2 that went live" in failure_rate
