from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from shipmate.demo.clock import FakeClock
from shipmate.domain.requests import BuildRequest, RecordRequest
from shipmate.errors import (
    ConflictError,
    IllegalTransitionError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    VersionCommitConflictError,
)
from shipmate.services.context import Context
from shipmate.services.queries import current_matrix, show_deployment
from shipmate.services.records.builds import allocate_build
from shipmate.services.records.deployments import record_deployment
from shipmate.services.records.rollbackmarks import mark_rollback
from shipmate.store.schema import current_state, deployments, environments, events, products


def rec(ctx: Context, status: str, **kw: object) -> object:
    kw.setdefault("product", "api")
    kw.setdefault("environment", "production")
    kw.setdefault("version", "1.0.0")
    return record_deployment(ctx, RecordRequest(status=status, **kw))  # type: ignore[arg-type]


def counts(ctx: Context) -> tuple[int, int, int]:
    with ctx.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(deployments)).scalar_one(),
            conn.execute(select(func.count()).select_from(events)).scalar_one(),
            conn.execute(select(func.count()).select_from(current_state)).scalar_one(),
        )


def test_started_then_completed_is_one_deployment_with_duration(
    ctx: Context, clock: FakeClock
) -> None:
    started = rec(ctx, "in_progress", ci_run_id="77", deployed_by="alice")
    clock.advance(seconds=90)
    done = rec(ctx, "SUCCESS", ci_run_id="77")
    assert done.id == started.id
    assert done.status == "completed"
    assert done.duration_ms == 90_000
    assert done.started_at == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert done.deployed_by == "alice"
    detail = show_deployment(ctx, done.id)
    assert [(e.from_status, e.to_status) for e in detail.events] == [
        (None, "started"),
        ("started", "completed"),
    ]
    assert counts(ctx) == (1, 2, 1)


def test_started_completed_at_quirk_does_not_complete(ctx: Context, clock: FakeClock) -> None:
    # The Versioner Action sends completed_at=now even with status started.
    dep = rec(ctx, "started", completed_at=clock())
    assert dep.status == "started"
    assert dep.finished_at is None


def test_completed_for_another_ci_run_opens_a_new_deployment(ctx: Context) -> None:
    first = rec(ctx, "started", ci_run_id="1")
    second = rec(ctx, "completed", ci_run_id="2")
    assert second.id != first.id
    assert show_deployment(ctx, first.id).status == "started"


def test_repeated_start_is_idempotent(ctx: Context) -> None:
    a = rec(ctx, "started", ci_run_id="9")
    b = rec(ctx, "started", ci_run_id="9")
    assert a.id == b.id
    assert counts(ctx)[:2] == (1, 1)


def test_completed_without_start_creates_completed(ctx: Context) -> None:
    dep = rec(ctx, "deployed", version="2.0.0+build.3")
    assert (dep.status, dep.version, dep.build_number, dep.full_version) == (
        "completed",
        "2.0.0",
        3,
        "2.0.0+build.3",
    )
    matrix = current_matrix(ctx)
    assert matrix.cell("api", "production").full_version == "2.0.0+build.3"  # type: ignore[union-attr]


def test_environment_kind_inferred_and_products_created(ctx: Context) -> None:
    rec(ctx, "completed", environment="prod-eu")
    rec(ctx, "completed", environment="qa")
    rec(ctx, "completed", environment="uat", environment_kind="staging")
    with ctx.read() as conn:
        kinds = dict(conn.execute(select(environments.c.name, environments.c.kind)).all())
        assert conn.execute(select(func.count()).select_from(products)).scalar() == 1
    assert kinds == {"prod-eu": "production", "qa": "test", "uat": "staging"}


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ("completed", "started"),
        ("failed", "completed"),
        ("aborted", "started"),
    ],
)
def test_illegal_transitions_are_refused_and_change_nothing(
    ctx: Context, first: str, then: str
) -> None:
    dep = rec(ctx, first)
    before = counts(ctx)
    with pytest.raises(IllegalTransitionError) as err:
        record_deployment(
            ctx, RecordRequest(environment="production", status=then, deployment_id=dep.id)
        )
    assert err.value.field == "status"
    assert first in err.value.message and then in err.value.message
    assert counts(ctx) == before
    assert show_deployment(ctx, dep.id).status == first


def test_rollback_mark_by_full_version_fixes_current(ctx: Context, clock: FakeClock) -> None:
    rec(ctx, "completed", version="1.0.0+build.1")
    clock.advance(days=1)
    rec(ctx, "completed", version="1.1.0+build.1")
    assert current_matrix(ctx).cell("api", "production").version == "1.1.0"  # type: ignore[union-attr]
    marked = mark_rollback(ctx, "1.1.0+build.1", reason="bad release")
    assert marked.status == "rolled_back"
    cell = current_matrix(ctx).cell("api", "production")
    assert cell is not None and cell.full_version == "1.0.0+build.1"
    # Nothing deleted; the mark is an event.
    assert counts(ctx) == (2, 3, 1)
    # Marking again is a retry: nothing changes, no second event.
    assert mark_rollback(ctx, str(marked.id)).status == "rolled_back"
    assert counts(ctx) == (2, 3, 1)


def test_rollback_of_only_deployment_empties_current(ctx: Context) -> None:
    dep = rec(ctx, "completed")
    mark_rollback(ctx, str(dep.id))
    assert current_matrix(ctx).cells == ()


def test_bloqr_rollback_status_marks_latest_completed(ctx: Context) -> None:
    rec(ctx, "success", version="0.11.3+build.42")
    marked = rec(ctx, "rollback", version="0.11.3+build.42")
    assert marked.status == "rolled_back"
    with pytest.raises(NotFoundError):
        rec(ctx, "rollback", version="0.11.3+build.41")


def test_ambiguous_full_version_needs_env(ctx: Context) -> None:
    rec(ctx, "completed", version="1.0.0+build.1", environment="staging")
    rec(ctx, "completed", version="1.0.0+build.1", environment="production")
    with pytest.raises(InvalidInputError) as err:
        mark_rollback(ctx, "1.0.0+build.1")
    assert "--env" in err.value.message
    assert mark_rollback(ctx, "1.0.0+build.1", environment="staging").environment == "staging"


def test_rollback_kind_marks_the_reverted_deployment(ctx: Context, clock: FakeClock) -> None:
    good = rec(ctx, "completed", version="1.0.0")
    clock.advance(hours=1)
    bad = rec(ctx, "completed", version="1.1.0")
    clock.advance(hours=1)
    back = rec(ctx, "completed", version="1.0.0", kind="rollback", reverts_id=bad.id)
    assert back.kind == "rollback" and back.reverts_id == bad.id
    assert show_deployment(ctx, bad.id).status == "rolled_back"
    assert show_deployment(ctx, good.id).status == "completed"
    assert current_matrix(ctx).cell("api", "production").deployment_id == back.id  # type: ignore[union-attr]


def test_backfilled_old_completion_does_not_displace_current(
    ctx: Context, clock: FakeClock
) -> None:
    rec(ctx, "completed", version="2.0.0")
    rec(ctx, "completed", version="1.0.0", completed_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert current_matrix(ctx).cell("api", "production").version == "2.0.0"  # type: ignore[union-attr]


def test_version_commit_is_immutable_without_builds(ctx: Context) -> None:
    rec(ctx, "completed", version="1.2.3", commit_sha="aaa")
    before = counts(ctx)
    with pytest.raises(VersionCommitConflictError) as err:
        rec(ctx, "completed", version="1.2.3", commit_sha="bbb", environment="staging")
    assert err.value.field == "commit"
    assert counts(ctx) == before


def test_build_commit_is_immutable(ctx: Context) -> None:
    allocate_build(ctx, BuildRequest("api", "1.2.3", commit_sha="aaa"))
    allocate_build(ctx, BuildRequest("api", "1.2.3", commit_sha="bbb"))  # a new build, new commit
    rec(ctx, "completed", version="1.2.3+build.2", commit_sha="bbb")
    with pytest.raises(VersionCommitConflictError):
        rec(ctx, "completed", version="1.2.3+build.1", commit_sha="bbb")


@pytest.mark.parametrize(
    ("kw", "field", "exc"),
    [
        ({"status": "exploded"}, "status", InvalidInputError),
        ({"environment": ""}, "environment", InvalidInputError),
        ({"product": None}, "product", InvalidInputError),
        ({"version": "not a version!"}, "version", InvalidInputError),
        ({"metadata": "{not json"}, "metadata", InvalidInputError),
        ({"metadata": "[1, 2]"}, "metadata", InvalidInputError),
        ({"metadata": {"blob": "x" * 102_400}}, "metadata", PayloadTooLargeError),
        ({"deployed_by": "x" * 256}, "deployed_by", InvalidInputError),
        ({"commit_sha": "c" * 65}, "commit", InvalidInputError),
        ({"kind": "sideways"}, "kind", InvalidInputError),
        ({"environment_kind": "moon"}, "environment_kind", InvalidInputError),
        ({"build_number": 0}, "build", InvalidInputError),
        ({"version": "1.0.0+build.2", "build_number": 3}, "build", InvalidInputError),
        ({"reverts_id": 999}, "reverts", NotFoundError),
        (
            {
                "started_at": datetime(2026, 11, 22, 12, tzinfo=UTC),
                "completed_at": datetime(2026, 11, 22, 11, tzinfo=UTC),
            },
            "completed_at",
            InvalidInputError,
        ),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    ctx: Context, kw: dict[str, object], field: str, exc: type[Exception]
) -> None:
    kw = {"status": "completed", **kw}
    status = kw.pop("status")
    with pytest.raises(exc) as err:
        rec(ctx, status, **kw)  # type: ignore[arg-type]
    assert getattr(err.value, "field", None) == field
    assert counts(ctx) == (0, 0, 0)


def test_unknown_deployment_id(ctx: Context) -> None:
    with pytest.raises(NotFoundError) as err:
        record_deployment(ctx, RecordRequest(environment="x", status="completed", deployment_id=5))
    assert "5" in err.value.message


def test_strings_that_look_like_sql_are_stored_verbatim(ctx: Context) -> None:
    nasty = "'; DROP TABLE deployments; --"
    dep = rec(ctx, "completed", deployed_by=nasty, metadata={"note": "<script>x</script>"})
    assert show_deployment(ctx, dep.id).deployed_by == nasty
    assert show_deployment(ctx, dep.id).metadata == {"note": "<script>x</script>"}


def test_deployment_of_a_known_build_inherits_its_commit(ctx: Context) -> None:
    allocate_build(ctx, BuildRequest("api", "1.4.0", commit_sha="9f1c2ab", branch="main"))
    dep = rec(ctx, "completed", version="1.4.0+build.1")
    assert (dep.commit_sha, dep.branch) == ("9f1c2ab", "main")


def test_explicit_environment_kind(ctx: Context) -> None:
    rec(ctx, "completed", environment="edge")  # inferred: dev
    dep = rec(ctx, "completed", environment="edge", environment_kind="production", version="1.0.1")
    assert dep.environment_kind == "production"
    with pytest.raises(ConflictError) as err:
        rec(ctx, "completed", environment="edge", environment_kind="staging", version="1.0.2")
    assert err.value.field == "environment_kind"


def test_unknown_build_number_still_fixes_its_commit(ctx: Context) -> None:
    rec(ctx, "completed", version="1.4.0+build.7", commit_sha="aaa")
    with pytest.raises(VersionCommitConflictError):
        rec(ctx, "completed", version="1.4.0+build.7", commit_sha="bbb", environment="staging")


def test_mark_rollback_by_full_version_deployed_twice_in_one_env(
    ctx: Context, clock: FakeClock
) -> None:
    first = rec(ctx, "completed", version="1.0.0+build.1")
    clock.advance(hours=1)
    rec(ctx, "completed", version="1.1.0+build.1")
    clock.advance(hours=1)
    again = rec(ctx, "completed", version="1.0.0+build.1")
    marked = mark_rollback(ctx, "1.0.0+build.1", product="api", environment="production")
    assert marked.id == again.id != first.id
