from __future__ import annotations

import pytest
from sqlalchemy import func, select

from shipmate.domain.requests import BuildRequest
from shipmate.errors import InvalidInputError
from shipmate.services.context import Context
from shipmate.services.records.builds import allocate_build
from shipmate.store.schema import build_counters, builds, events, products


def test_build_numbers_count_per_version_and_reset(ctx: Context) -> None:
    numbers = [allocate_build(ctx, BuildRequest("api", "1.4.0")).build_number for _ in range(3)]
    assert numbers == [1, 2, 3]
    other = allocate_build(ctx, BuildRequest("api", "1.5.0"))
    assert (other.build_number, other.full_version) == (1, "1.5.0+build.1")
    again = allocate_build(ctx, BuildRequest("api", "1.4.0", commit_sha="abc"))
    assert again.full_version == "1.4.0+build.4"
    assert again.commit_sha == "abc"
    # Another product has its own counter.
    assert allocate_build(ctx, BuildRequest("web", "1.4.0")).build_number == 1


def test_build_records_metadata_and_event(ctx: Context) -> None:
    build = allocate_build(
        ctx,
        BuildRequest(
            "api",
            "0.11.3",
            commit_sha="abc123",
            branch="main",
            built_by="ci",
            ci_platform="github-actions",
            ci_run_id="42",
            metadata={"k": "v"},
        ),
    )
    assert build.to_dict()["id"] == str(build.id)
    assert build.metadata == {"k": "v"}
    with ctx.read() as conn:
        kinds = conn.execute(select(events.c.type)).scalars().all()
    assert kinds == ["build.allocated"]


def test_opaque_versions_are_accepted_unless_strict(ctx: Context) -> None:
    assert allocate_build(ctx, BuildRequest("api", "abc1234")).full_version == "abc1234+build.1"
    strict = Context(
        settings=ctx.settings.__class__(database_url=ctx.settings.database_url, strict_semver=True),
        engine=ctx.engine,
        clock=ctx.clock,
    )
    with pytest.raises(InvalidInputError) as err:
        allocate_build(strict, BuildRequest("api", "abc1234"))
    assert err.value.field == "version"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"product": "", "version": "1.0.0"}, "product"),
        ({"product": "api", "version": ""}, "version"),
        ({"product": "a b", "version": "1.0.0"}, "product"),
        ({"product": "api", "version": "1.0.0 beta"}, "version"),
        ({"product": "api", "version": "x" * 101}, "version"),
        ({"product": "api", "version": "1.0.0", "branch": "b" * 300}, "branch"),
        ({"product": "api", "version": "1.0.0", "metadata": {"x": "y" * 110_000}}, "metadata"),
    ],
)
def test_bad_input_changes_nothing(ctx: Context, kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        allocate_build(ctx, BuildRequest(**kwargs))  # type: ignore[arg-type]
    assert err.value.field == field
    with ctx.read() as conn:
        for table in (products, builds, build_counters, events):
            assert conn.execute(select(func.count()).select_from(table)).scalar() == 0
