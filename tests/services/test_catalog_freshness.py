"""A process that remembered a name's ids follows a rename, merge or archive made by
another process (another server worker, another server, the CLI) within the check
interval, instead of writing on through its stale ids."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from shipmate.domain.requests import BuildRequest, HistoryFilter, RecordRequest
from shipmate.errors import ConflictError, NotFoundError
from shipmate.services import queries
from shipmate.services.catalog import changes, freshness
from shipmate.services.context import Context
from shipmate.services.records.builds import allocate_build
from shipmate.services.records.deployments import record_deployment
from shipmate.store.engine import make_engine
from shipmate.store.schema import builds, products


@pytest.fixture
def other(ctx: Context) -> Context:
    """A second process on the same database: its own engine and its own memory."""
    engine = make_engine(ctx.settings.database_url or str(ctx.engine.url))
    second = Context(settings=ctx.settings, engine=engine, clock=ctx.clock)
    yield second
    second.close()


@pytest.fixture
def checks_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """No waiting for the interval: every call re-reads the catalog mark."""
    monkeypatch.setattr(freshness, "CATALOG_CHECK_SECONDS", 0.0)


def _builds_of(ctx: Context, product: str) -> int:
    with ctx.read() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(builds.join(products, builds.c.product_id == products.c.id))
                .where(products.c.name == product)
            ).scalar_one()
        )


@pytest.mark.usefixtures("checks_every_call")
def test_an_archive_elsewhere_stops_builds_from_remembered_ids(
    ctx: Context, other: Context
) -> None:
    allocate_build(ctx, BuildRequest(product="web", version="1.0.0"))
    changes.apply_change(other, "product", "archive", "web")
    with pytest.raises(ConflictError, match="unarchive"):
        allocate_build(ctx, BuildRequest(product="web", version="1.0.0"))
    assert _builds_of(ctx, "web") == 1


def _record(ctx: Context, version: str = "1.0.0") -> None:
    record_deployment(
        ctx,
        RecordRequest(environment="production", status="completed", product="web", version=version),
    )


@pytest.mark.usefixtures("checks_every_call")
@pytest.mark.parametrize("kind,name", [("product", "web"), ("environment", "production")])
def test_an_archive_elsewhere_stops_recording_through_remembered_ids(
    ctx: Context, other: Context, kind: str, name: str
) -> None:
    _record(ctx)
    _record(ctx)  # the ids are remembered now
    changes.apply_change(other, kind, "archive", name)
    with pytest.raises(ConflictError, match="unarchive"):
        _record(ctx, "1.0.1")


@pytest.mark.usefixtures("checks_every_call")
def test_a_rename_elsewhere_sends_recording_to_the_new_product_of_the_old_name(
    ctx: Context, other: Context
) -> None:
    _record(ctx)
    changes.apply_change(other, "product", "rename", "web", "storefront")
    _record(ctx)
    with ctx.read() as conn:
        names = conn.execute(select(products.c.name).order_by(products.c.name)).scalars().all()
    assert names == ["storefront", "web"]


@pytest.mark.usefixtures("checks_every_call")
def test_a_rename_elsewhere_frees_the_old_name(ctx: Context, other: Context) -> None:
    allocate_build(ctx, BuildRequest(product="web", version="1.0.0"))
    changes.apply_change(other, "product", "rename", "web", "storefront")
    again = allocate_build(ctx, BuildRequest(product="web", version="1.0.0"))
    # The old name is a new product now; the renamed one keeps only its own build.
    assert (again.product, again.build_number) == ("web", 1)
    assert _builds_of(ctx, "storefront") == 1


@pytest.mark.usefixtures("checks_every_call")
def test_history_by_a_renamed_name_stops_showing_the_renamed_product(
    ctx: Context, other: Context
) -> None:
    allocate_build(ctx, BuildRequest(product="web", version="1.0.0"))
    queries.history(ctx, HistoryFilter(product="web"), limit=10)  # remembers web's id
    changes.apply_change(other, "product", "rename", "web", "storefront")
    with pytest.raises(NotFoundError):
        queries.history(ctx, HistoryFilter(product="web"), limit=10)


def test_within_the_interval_the_mark_is_not_re_read(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check costs one read per interval, not one per call."""
    monkeypatch.setattr(freshness, "CATALOG_CHECK_SECONDS", 3600.0)
    allocate_build(ctx, BuildRequest(product="web", version="1.0.0"))
    reads: list[str] = []

    from sqlalchemy import event

    @event.listens_for(ctx.engine, "before_cursor_execute")
    def _seen(_c: object, _cur: object, statement: str, *_rest: object) -> None:
        reads.append(statement)

    try:
        for n in range(5):
            allocate_build(ctx, BuildRequest(product="web", version=f"1.0.{n + 1}"))
    finally:
        event.remove(ctx.engine, "before_cursor_execute", _seen)
    assert [s for s in reads if "max(events.id)" in s.lower()] == []
    assert reads, "the allocations ran statements"
