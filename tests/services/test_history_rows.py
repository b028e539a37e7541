"""History pages decoded by hand (``shipmate.store.history``) equal the same rows
decoded through SQLAlchemy's column types, on both backends, for every filter
shape and through the keyset cursor."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta

from shipmate.demo.clock import FakeClock
from shipmate.domain.records import DeploymentRecord
from shipmate.domain.requests import HistoryFilter, RecordRequest
from shipmate.services.context import Context
from shipmate.services.queries import history
from shipmate.services.records.deployments import record_deployment
from shipmate.store.deployments import get_deployment


def _seed(ctx: Context, clock: FakeClock) -> None:
    for i in range(12):
        clock.advance(minutes=7)
        started = clock.now - timedelta(seconds=90, microseconds=123_457 * (i % 3))
        first = record_deployment(
            ctx,
            RecordRequest(
                product="api" if i % 3 else "web",
                environment=("dev", "staging", "production")[i % 3],
                version=f"1.{i}.0",
                status="started",
                branch="main" if i % 2 else "feature/x",
                deployed_by="alice" if i % 2 else None,
                commit_sha=f"{i:040x}",
                commit_time=clock.now - timedelta(hours=2) if i % 4 == 0 else None,
                metadata={"pipeline": "deploy", "n": i} if i % 2 else {},
                started_at=started,
            ),
        )
        if i % 5 != 4:  # some stay open: no finished_at, no duration
            record_deployment(
                ctx,
                RecordRequest(
                    deployment_id=first.id,
                    environment=first.environment,
                    status="failed" if i % 4 == 3 else "completed",
                ),
            )


def _ordinary(ctx: Context, dep_id: int) -> DeploymentRecord:
    with ctx.read() as conn:
        found = get_deployment(conn, dep_id)
    assert found is not None
    return found


def _same(ctx: Context, page: tuple[DeploymentRecord, ...]) -> None:
    for got in page:
        want = _ordinary(ctx, got.id)
        assert got == want
        for f in fields(DeploymentRecord):
            value = getattr(got, f.name)
            assert type(value) is type(getattr(want, f.name)), f.name
            if isinstance(value, datetime):
                assert value.tzinfo is UTC, f.name
        assert got.metadata is not want.metadata  # a fresh dict each time


def test_every_field_matches_the_typed_columns(ctx: Context, clock: FakeClock) -> None:
    _seed(ctx, clock)
    page = history(ctx, HistoryFilter(), limit=100)
    assert len(page.items) == 12
    assert any(d.finished_at is None for d in page.items)
    assert any(d.commit_time is not None for d in page.items)
    assert any(d.metadata for d in page.items) and any(not d.metadata for d in page.items)
    _same(ctx, page.items)


def test_metadata_is_never_shared_between_records(ctx: Context, clock: FakeClock) -> None:
    _seed(ctx, clock)
    first = history(ctx, HistoryFilter(product="api"), limit=100).items
    first[0].metadata["mutated"] = True
    again = history(ctx, HistoryFilter(product="api"), limit=100).items
    assert "mutated" not in again[0].metadata


def test_every_filter_shape_and_the_cursor(ctx: Context, clock: FakeClock) -> None:
    _seed(ctx, clock)
    everything = history(ctx, HistoryFilter(), limit=100).items
    middle = everything[len(everything) // 2].deployed_at
    shapes = [
        HistoryFilter(product="api", environment="staging"),
        HistoryFilter(status="completed"),
        HistoryFilter(kind="deploy", branch="main"),
        HistoryFilter(version="1.5.0", actor="alice"),
        HistoryFilter(version=everything[0].full_version),
        HistoryFilter(since=middle),
        HistoryFilter(until=middle),
        HistoryFilter(product="api", since=middle - timedelta(hours=1), until=middle),
    ]
    for f in shapes:
        want = [d for d in everything if _matches(d, f)]
        got: list[DeploymentRecord] = []
        cursor = None
        while True:  # pages of 2, walked through the cursor
            page = history(ctx, f, limit=2, cursor=cursor)
            got.extend(page.items)
            _same(ctx, page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert [d.id for d in got] == [d.id for d in want], f


def _matches(d: DeploymentRecord, f: HistoryFilter) -> bool:
    checks = [
        f.product is None or d.product == f.product,
        f.environment is None or d.environment == f.environment,
        f.status is None or d.status == f.status,
        f.kind is None or d.kind == f.kind,
        f.branch is None or d.branch == f.branch,
        f.actor is None or d.deployed_by == f.actor,
        f.version is None or f.version in (d.version, d.full_version),
        f.since is None or d.deployed_at >= f.since,
        f.until is None or d.deployed_at < f.until,
    ]
    return all(checks)
