from __future__ import annotations

from datetime import timedelta

import pytest

from shipmate.demo.clock import FakeClock
from shipmate.domain.requests import HistoryFilter, RecordRequest
from shipmate.errors import InvalidInputError, NotFoundError
from shipmate.services.context import Context
from shipmate.services.queries import current_matrix, history, list_events, stats
from shipmate.services.records.deployments import record_deployment
from shipmate.services.records.rollbackmarks import mark_rollback


def seed(ctx: Context, clock: FakeClock) -> None:
    plan = [
        ("api", "dev", "1.0.0", "completed", "main", "alice"),
        ("api", "staging", "1.0.0", "completed", "main", "alice"),
        ("api", "production", "1.0.0", "completed", "main", "bob"),
        ("api", "dev", "1.1.0", "completed", "feature", "carol"),
        ("api", "staging", "1.1.0", "failed", "feature", "carol"),
        ("web", "production", "2.0.0", "completed", "main", "bob"),
        ("web", "production", "2.1.0", "aborted", "main", "bob"),
    ]
    for product, env, version, status, branch, actor in plan:
        clock.advance(hours=1)
        record_deployment(
            ctx,
            RecordRequest(
                product=product,
                environment=env,
                version=version,
                status=status,
                branch=branch,
                deployed_by=actor,
            ),
        )


def test_history_filters(ctx: Context, clock: FakeClock) -> None:
    seed(ctx, clock)
    page = history(ctx, HistoryFilter(product="api"))
    assert [d.environment for d in page.items] == ["staging", "dev", "production", "staging", "dev"]
    assert page.next_cursor is None
    assert len(history(ctx, HistoryFilter(status="success")).items) == 5
    assert len(history(ctx, HistoryFilter(status="failed")).items) == 1
    assert [d.version for d in history(ctx, HistoryFilter(branch="feature")).items] == ["1.1.0"] * 2
    assert {d.deployed_by for d in history(ctx, HistoryFilter(actor="bob")).items} == {"bob"}
    assert len(history(ctx, HistoryFilter(version="1.0.0")).items) == 3
    start = clock.now - timedelta(hours=3)
    window = history(ctx, HistoryFilter(since=start, until=clock.now))
    assert [d.product for d in window.items] == ["web", "api", "api"]
    with pytest.raises(NotFoundError) as err:
        history(ctx, HistoryFilter(product="nope"))
    assert err.value.field == "product"


def test_history_keyset_pages_cover_everything_once(ctx: Context, clock: FakeClock) -> None:
    for i in range(23):
        clock.advance(minutes=1)
        record_deployment(
            ctx,
            RecordRequest(product="api", environment="dev", version=f"1.0.{i}", status="completed"),
        )
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = history(ctx, HistoryFilter(product="api"), limit=5, cursor=cursor)
        seen += [d.version for d in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 5
    assert seen == [f"1.0.{i}" for i in reversed(range(23))]


def test_history_bad_cursor_and_limit(ctx: Context) -> None:
    with pytest.raises(InvalidInputError) as err:
        history(ctx, HistoryFilter(), cursor="garbage!")
    assert err.value.field == "cursor"
    with pytest.raises(InvalidInputError) as err:
        history(ctx, HistoryFilter(), limit=0)
    assert err.value.field == "limit"


def test_matrix_and_drift(ctx: Context, clock: FakeClock) -> None:
    seed(ctx, clock)
    matrix = current_matrix(ctx)
    assert matrix.products == ("api", "web")
    assert [name for name, _ in matrix.environments] == ["dev", "staging", "production"]
    api_dev = matrix.cell("api", "dev")
    api_prod = matrix.cell("api", "production")
    assert api_dev is not None and api_prod is not None
    assert (api_dev.version, api_dev.drift) == ("1.1.0", True)
    assert (api_prod.version, api_prod.drift) == ("1.0.0", False)
    assert matrix.cell("api", "staging").version == "1.0.0"  # type: ignore[union-attr]
    assert matrix.cell("web", "production").version == "2.0.0"  # type: ignore[union-attr]
    assert matrix.cell("web", "dev") is None
    assert api_prod.age_seconds == 4 * 3600


def test_stats(ctx: Context, clock: FakeClock) -> None:
    seed(ctx, clock)
    s = stats(ctx, HistoryFilter(product="api"))
    assert s.total == 5
    assert (s.completed, s.failed, s.rolled_back) == (4, 1, 0)
    assert s.success_rate == 0.8
    assert s.latest_full_version == "1.1.0"
    assert [(v.version, v.total) for v in s.versions] == [("1.1.0", 2), ("1.0.0", 3)]
    dep = history(ctx, HistoryFilter(product="api", environment="production")).items[0]
    mark_rollback(ctx, str(dep.id))
    after = stats(ctx, HistoryFilter(product="api"))
    assert (after.completed, after.rolled_back, after.success_rate) == (3, 1, 0.6)
    empty = stats(ctx, HistoryFilter(product="web", status="failed"))
    assert (empty.total, empty.success_rate, empty.latest_full_version) == (0, None, None)


def test_event_log(ctx: Context, clock: FakeClock) -> None:
    seed(ctx, clock)
    evs = list_events(ctx, product="web")
    assert [e.type for e in evs] == ["deployment.aborted", "deployment.completed"]
    assert list_events(ctx, type_prefix="deployment.failed")[0].actor == "carol"


def test_cursor_keeps_microseconds(ctx: Context, clock: FakeClock) -> None:
    base = clock.now
    for micro in (123400, 123456):
        clock.set(base.replace(microsecond=micro))
        record_deployment(
            ctx,
            RecordRequest(
                product="api", environment="dev", version=f"1.0.{micro}", status="completed"
            ),
        )
    first = history(ctx, HistoryFilter(), limit=1)
    second = history(ctx, HistoryFilter(), limit=1, cursor=first.next_cursor)
    assert [d.version for d in first.items + second.items] == ["1.0.123456", "1.0.123400"]
