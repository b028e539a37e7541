"""Renaming, merging and archiving products and environments; the new-name check."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from shipmate.domain.requests import BuildRequest, HistoryFilter, RecordRequest
from shipmate.errors import ConflictError, NotFoundError, UnknownNameError
from shipmate.services import queries
from shipmate.services.auth.keys import create_key, list_keys
from shipmate.services.catalog import changes
from shipmate.services.catalog import listing as catalog
from shipmate.services.context import Context
from shipmate.services.gates import rules as gates
from shipmate.services.records.builds import allocate_build
from shipmate.services.records.deployments import record_deployment
from shipmate.services.releases.sync import DeclaredVersion, sync_versions
from tests.api.auth_world import fingerprint


def _record(ctx: Context, product: str, env: str, version: str, **more: Any) -> int:
    return record_deployment(
        ctx,
        RecordRequest(
            product=product, environment=env, version=version, status="completed", **more
        ),
    ).id


def _typo(ctx: Context, product: str, env: str, version: str, **more: Any) -> int:
    """Record under a near-miss name, as happened before the check (``--create``)."""
    with changes.creating_names():
        return _record(ctx, product, env, version, **more)


def _history(ctx: Context, product: str) -> list[tuple[str, str, str]]:
    page = queries.history(ctx, HistoryFilter(product=product), limit=100)
    return sorted((d.product, d.environment, d.version) for d in page.items)


def _with_catalog(ctx: Context, **table: Any) -> Context:
    settings = replace(ctx.settings, sections={"catalog": table})
    return Context(settings=settings, engine=ctx.engine, clock=ctx.clock)


def test_rename_keeps_history_and_a_retry_changes_nothing(ctx: Context) -> None:
    first = _record(ctx, "API", "production", "1.0.0")
    change = changes.apply_change(ctx, "product", "rename", "API", "api", actor="ops")
    assert change.changed and change.source == "API"
    assert queries.show_deployment(ctx, first).product == "api"
    assert _history(ctx, "api") == [("api", "production", "1.0.0")]
    assert changes.apply_change(ctx, "product", "rename", "API", "api").changed is False
    events = queries.list_events(ctx, limit=10)
    renamed = [e for e in events if e.type == "product.renamed"]
    assert len(renamed) == 1 and renamed[0].actor == "ops"


def test_rename_onto_an_existing_name_is_a_conflict_naming_merge(ctx: Context) -> None:
    _record(ctx, "api", "production", "1.0.0")
    _record(ctx, "web", "production", "1.0.0")
    with pytest.raises(ConflictError, match="merge"):
        changes.apply_change(ctx, "product", "rename", "web", "api")
    with pytest.raises(NotFoundError):
        changes.apply_change(ctx, "product", "rename", "nothing", "else")


def test_merge_moves_deployments_builds_and_versions(ctx: Context) -> None:
    allocate_build(ctx, BuildRequest(product="api", version="1.0.0"))
    _record(ctx, "api", "production", "1.0.0")
    with changes.creating_names():
        allocate_build(ctx, BuildRequest(product="API", version="2.0.0"))
    allocate_build(ctx, BuildRequest(product="API", version="2.0.0"))
    _record(ctx, "API", "staging", "2.0.0")
    _record(ctx, "API", "production", "2.0.0")
    change = changes.apply_change(ctx, "product", "merge", "API", "api")
    assert change.changed
    assert _history(ctx, "api") == [
        ("api", "production", "1.0.0"),
        ("api", "production", "2.0.0"),
        ("api", "staging", "2.0.0"),
    ]
    assert [v.version for v in catalog.list_versions(ctx, "api")] == ["2.0.0", "1.0.0"]
    # The build counter moved too: the next build of 2.0.0 is the third.
    assert allocate_build(ctx, BuildRequest(product="api", version="2.0.0")).build_number == 3
    matrix = queries.current_matrix(ctx)
    assert matrix.products == ("api",)  # the merged product is archived
    current = {(c.environment, c.version) for c in matrix.cells}
    assert current == {("production", "2.0.0"), ("staging", "2.0.0")}
    assert changes.apply_change(ctx, "product", "merge", "API", "api").changed is False
    with pytest.raises(ConflictError, match=r"merged into .api.; .* unarchive API"):
        _record(ctx, "API", "production", "3.0.0")


def test_merge_joins_a_shared_version(ctx: Context) -> None:
    _record(ctx, "api", "production", "1.0.0", commit_sha="a" * 40)
    _typo(ctx, "API", "staging", "1.0.0", commit_sha="a" * 40)
    changes.apply_change(ctx, "product", "merge", "API", "api")
    assert [v.version for v in catalog.list_versions(ctx, "api")] == ["1.0.0"]
    assert len(_history(ctx, "api")) == 2


@pytest.mark.parametrize("clash", ["commit", "build"])
def test_a_conflicting_merge_changes_nothing(ctx: Context, clash: str) -> None:
    if clash == "commit":
        _record(ctx, "api", "production", "1.0.0", commit_sha="a" * 40)
        _typo(ctx, "API", "production", "1.0.0", commit_sha="b" * 40)
    else:
        allocate_build(ctx, BuildRequest(product="api", version="1.0.0"))
        with changes.creating_names():
            allocate_build(ctx, BuildRequest(product="API", version="1.0.0"))
    before = fingerprint(ctx)
    with pytest.raises(ConflictError, match="nothing was changed"):
        changes.apply_change(ctx, "product", "merge", "API", "api")
    assert fingerprint(ctx) == before


def test_merge_environments(ctx: Context) -> None:
    _record(ctx, "api", "production", "0.9.0")
    _typo(ctx, "api", "prod", "1.0.0")
    _record(ctx, "web", "prod", "2.0.0")
    changes.apply_change(ctx, "environment", "merge", "prod", "production")
    page = queries.history(ctx, HistoryFilter(environment="production"), limit=10)
    assert len(page.items) == 3
    matrix = queries.current_matrix(ctx)
    assert [e for e, _ in matrix.environments] == ["production"]
    # The latest completed deployment is current, whichever side it came from.
    assert {(c.product, c.version) for c in matrix.cells} == {("api", "1.0.0"), ("web", "2.0.0")}


def test_archived_leaves_the_matrix_and_stays_in_history(ctx: Context) -> None:
    _record(ctx, "api", "production", "1.0.0")
    _record(ctx, "old", "production", "1.0.0")
    _record(ctx, "api", "sandbox", "1.0.0")
    changes.apply_change(ctx, "product", "archive", "old")
    changes.apply_change(ctx, "environment", "archive", "sandbox")
    matrix = queries.current_matrix(ctx)
    assert matrix.products == ("api",)
    assert {c.environment for c in matrix.cells} == {"production"}
    assert _history(ctx, "old") == [("old", "production", "1.0.0")]
    assert queries.current_matrix(ctx, product="old").cells  # by name: still there
    assert changes.apply_change(ctx, "product", "archive", "old").changed is False
    with pytest.raises(ConflictError, match="unarchive"):
        _record(ctx, "old", "production", "1.0.1")
    with pytest.raises(ConflictError, match="unarchive"):
        _record(ctx, "api", "sandbox", "1.0.1")
    changes.apply_change(ctx, "product", "unarchive", "old")
    _record(ctx, "old", "production", "1.0.1")


def test_a_near_miss_is_refused_and_changes_nothing(ctx: Context) -> None:
    _record(ctx, "api", "production", "1.0.0")
    before = fingerprint(ctx)
    with pytest.raises(UnknownNameError, match="did you mean 'production'") as refused:
        _record(ctx, "api", "prodution", "1.0.0")
    assert refused.value.field == "environment"
    assert refused.value.details == {"suggestions": ["production"]}
    with pytest.raises(UnknownNameError, match="did you mean 'api'"):
        allocate_build(ctx, BuildRequest(product="API", version="1.0.0"))
    assert fingerprint(ctx) == before
    with changes.creating_names():
        _record(ctx, "api", "prodution", "1.0.0")
    _record(ctx, "billing", "production", "1.0.0")  # genuinely new: created


def test_declared_names_pass(ctx: Context) -> None:
    _record(ctx, "api", "production", "1.0.0")
    declared = _with_catalog(ctx, environments=["productions"], products=["API"])
    _record(declared, "API", "productions", "1.0.0")
    changes.apply_change(ctx, "product", "declare", "Api")  # declared through the API
    _record(ctx, "Api", "production", "1.0.0")


def test_unknown_refuse_and_warn(ctx: Context) -> None:
    _record(ctx, "api", "production", "1.0.0")
    strict = _with_catalog(ctx, unknown="refuse")
    with pytest.raises(UnknownNameError, match="declared"):
        _record(strict, "billing", "production", "1.0.0")
    with changes.creating_names():
        _record(strict, "billing", "production", "1.0.0")
    warn = _with_catalog(ctx, unknown="warn")
    with changes.collecting_warnings() as warnings:
        _record(warn, "web", "production", "1.0.0")
        _record(warn, "web", "production", "1.0.1")
    assert warnings == ["created a new product 'web'"]
    with pytest.raises(UnknownNameError):
        _record(warn, "WEB", "production", "1.0.0")
    off = _with_catalog(ctx, check_near_misses=False)
    _record(off, "WEB", "production", "1.0.0")


def test_rename_carries_gate_rules_and_key_limits(ctx: Context) -> None:
    _record(ctx, "web", "production", "1.0.0")
    gates.add_rule(
        ctx,
        {
            "name": "one",
            "kind": "concurrency",
            "products": ["web", "api-*"],
            "environments": ["production"],
        },
    )
    gates.add_rule(
        ctx,
        {
            "name": "flow",
            "kind": "flow",
            "environments": ["production"],
            "required_environments": ["production"],
        },
    )
    create_key(ctx, "web-ci", "write", ["web"])
    changes.apply_change(ctx, "product", "rename", "web", "storefront")
    changes.apply_change(ctx, "environment", "rename", "production", "prod")
    rules = {r.rule.name: r.rule for r in gates.list_rules(ctx)}
    assert rules["one"].products == ("storefront", "api-*")
    assert rules["one"].environments == ("prod",)
    assert rules["flow"].required_environments == ("prod",)
    assert [k.products for k in list_keys(ctx) if k.name == "web-ci"] == [("storefront",)]


def test_release_sync_refuses_a_near_miss_too(ctx: Context) -> None:
    _record(ctx, "storefront", "production", "1.0.0")
    before = fingerprint(ctx)
    with pytest.raises(UnknownNameError, match="did you mean 'storefront'"):
        sync_versions(ctx, "storefrnot", [DeclaredVersion(version="1.1.0")])
    assert fingerprint(ctx) == before
    sync_versions(ctx, "search", [DeclaredVersion(version="1.1.0")])


def test_a_process_that_cached_a_merged_version_is_refused_not_failed(ctx: Context) -> None:
    """Another server process merged API into api; this one still has API's ids cached."""
    _record(ctx, "api", "production", "1.0.0")
    other = Context(settings=ctx.settings, engine=ctx.engine, clock=ctx.clock)
    with changes.creating_names():
        allocate_build(ctx, BuildRequest(product="API", version="1.0.0"))
    changes.apply_change(other, "product", "merge", "API", "api")
    with pytest.raises(ConflictError, match="merged into 'api'"):
        allocate_build(ctx, BuildRequest(product="API", version="1.0.0"))
