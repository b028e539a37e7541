"""The matrix says what each host of an environment serves, from the agents' reports."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from shipmate.cli.render import render_matrix
from shipmate.domain.requests import RecordRequest
from shipmate.services.context import Context
from shipmate.services.queries import current_matrix
from shipmate.services.records.deployments import record_deployment
from shipmate.store.schema_agents import hosts


def _host(ctx: Context, name: str, serves: str | None, *, product: str = "api") -> None:
    state: dict[str, Any] = {}
    if serves is not None:
        report = {"slots": {"blue": "1.0.0", "green": serves}, "live": {"slot": "green"}}
        state = {product: {"production": report}}
    now = ctx.now()
    with ctx.write() as conn:
        conn.execute(
            insert(hosts).values(
                name=name, labels={}, registered_at=now, last_seen_at=now, state=state
            )
        )


def _deployed(ctx: Context, product: str, version: str) -> None:
    record_deployment(
        ctx,
        RecordRequest(
            environment="production", status="completed", product=product, version=version
        ),
    )


def test_hosts_that_disagree_show_in_the_matrix_and_in_current(ctx: Context) -> None:
    _deployed(ctx, "api", "2.0.0")
    _deployed(ctx, "web", "1.0.0")
    _host(ctx, "web-1", "2.0.0")
    _host(ctx, "web-2", "2.0.0")
    _host(ctx, "web-3", "1.0.0")
    matrix = current_matrix(ctx)
    cell = matrix.cell("api", "production")
    assert cell is not None and cell.hosts == "2.0.0 on 2 of 3 hosts; 1.0.0 on web-3"
    other = matrix.cell("web", "production")
    assert other is not None and other.hosts is None  # no host reports it
    assert "[2.0.0 on 2 of 3 hosts; 1.0.0 on web-3]" in render_matrix(matrix)
    assert cell.to_dict()["hosts"] == "2.0.0 on 2 of 3 hosts; 1.0.0 on web-3"


def test_hosts_that_agree_say_so_and_one_host_says_nothing(ctx: Context) -> None:
    _deployed(ctx, "api", "2.0.0")
    _host(ctx, "web-1", "2.0.0")
    assert current_matrix(ctx).cell("api", "production").hosts is None  # type: ignore[union-attr]
    _host(ctx, "web-2", "2.0.0")
    _host(ctx, "web-3", None)  # registered, reports nothing for api
    cell = current_matrix(ctx).cell("api", "production")
    assert cell is not None and cell.hosts == "2.0.0 on all 2 hosts"
