"""Drift direction in the matrix on both backends: the services' result, the API's
``/api/v1/current``, the dashboard cell and the CLI's ``current`` marker."""

from __future__ import annotations

from fastapi.testclient import TestClient

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.cli.render import render_matrix
from shipmate.demo.clock import FakeClock
from shipmate.domain.requests import RecordRequest
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.services.queries import current_matrix
from shipmate.services.records.deployments import record_deployment


def deploy(ctx: Context, clock: FakeClock, product: str, env: str, version: str) -> None:
    clock.advance(minutes=5)
    record_deployment(
        ctx, RecordRequest(product=product, environment=env, version=version, status="completed")
    )


def seed(ctx: Context, clock: FakeClock) -> None:
    # normal: new in dev, older further along
    for env in ("dev", "staging", "production"):
        deploy(ctx, clock, "normal", env, "1.0.0")
    deploy(ctx, clock, "normal", "dev", "1.1.0")
    # behind: staging left on 1.0.0 while production got 1.1.0 through it
    for env in ("dev", "staging", "production"):
        deploy(ctx, clock, "lagging", env, "1.0.0")
    for env in ("dev", "staging", "production"):
        deploy(ctx, clock, "lagging", env, "1.1.0")
    deploy(ctx, clock, "lagging", "staging", "1.0.0")
    # skipped: production got 2.0.0 that staging never had
    for env in ("dev", "staging", "production"):
        deploy(ctx, clock, "hotfixed", env, "1.0.0")
    deploy(ctx, clock, "hotfixed", "production", "2.0.0")


def test_matrix_cells_say_which_way(ctx: Context, clock: FakeClock) -> None:
    seed(ctx, clock)
    m = current_matrix(ctx)

    def way(product: str, env: str) -> tuple[str | None, str | None, bool]:
        c = m.cell(product, env)
        assert c is not None
        return c.drift_direction, c.drift_against, c.drift_warning

    assert way("normal", "dev") == ("ahead", "staging", False)
    assert way("normal", "staging") == (None, None, False)
    assert way("lagging", "staging") == ("behind", "production", True)
    assert way("lagging", "dev") == ("ahead", "staging", False)
    assert way("hotfixed", "production") == ("skipped", "staging", True)
    assert way("hotfixed", "staging") == ("behind", "production", True)
    # the one product asked for alone says the same
    one = current_matrix(ctx, product="lagging").cell("lagging", "staging")
    assert one is not None and one.drift_direction == "behind"

    text = render_matrix(m)
    assert "1.1.0* (" in text  # normal dev: ahead, the old marker
    assert "1.0.0! (" in text and "2.0.0! (" in text
    assert "! behind a later environment, or never in the one before" in text


def test_api_and_dashboard_show_the_direction(ctx: Context, clock: FakeClock) -> None:
    seed(ctx, clock)
    token = create_key(ctx, "reader", "read").token
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings())
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {token}"}
        data = client.get("/api/v1/current", headers=auth).json()
        cells = {(c["product"], c["environment"]): c for c in data["cells"]}
        staging = cells[("lagging", "staging")]
        assert (staging["drift"], staging["drift_direction"], staging["drift_against"]) == (
            True,
            "behind",
            "production",
        )
        dev = cells[("normal", "dev")]
        assert (dev["drift"], dev["drift_direction"]) == (True, "ahead")
        assert cells[("normal", "production")]["drift_direction"] is None

        page = client.get("/", headers=auth).text
        assert 'class="cell state-drift" data-product="lagging" data-environment="staging"' in page
        assert 'class="cell state-ahead" data-product="normal" data-environment="dev"' in page
        assert "never in staging" in page and "behind production" in page
        assert "4 cells are behind a later environment" in page  # hotfixed: 3

        product = client.get("/products/hotfixed", headers=auth).text
        assert "never in staging" in product and "behind production" in product
        assert 'class="now-item state-drift"' in product


def test_a_skipped_version_stops_being_skipped_once_the_environment_before_has_it(
    ctx: Context, clock: FakeClock
) -> None:
    seed(ctx, clock)
    cell = current_matrix(ctx).cell("hotfixed", "production")
    assert cell is not None and cell.drift_direction == "skipped"
    deploy(ctx, clock, "hotfixed", "staging", "2.0.0")
    deploy(ctx, clock, "hotfixed", "staging", "1.0.0")  # and back: 2.0.0 was there
    cell = current_matrix(ctx).cell("hotfixed", "production")
    assert cell is not None and cell.drift_direction is None
    staging = current_matrix(ctx).cell("hotfixed", "staging")
    assert staging is not None and staging.drift_direction == "behind"
