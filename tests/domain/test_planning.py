"""Plans: which versions are visited, which actions run, flags, position, rendering."""

from __future__ import annotations

import hashlib

import pytest

from shipmate.domain.releases.lineage import Lineage, VersionNode
from shipmate.domain.releases.planning import (
    ActionKind,
    Direction,
    Phase,
    Plan,
    ReleaseAction,
    action_checksum,
    format_step_progress,
    plan,
)
from shipmate.errors import ConflictError, InvalidInputError, NotFoundError

VERSIONS = ("1.0.0", "1.1.0", "1.2.0", "1.3.0")


def lineage(*versions: str) -> Lineage:
    return Lineage.build(VersionNode(v, i) for i, v in enumerate(versions or VERSIONS, start=1))


def sql(version: str, phase: str, order: int = 1, name: str | None = None) -> ReleaseAction:
    return ReleaseAction.create(
        version=version,
        phase=phase,
        order=order,
        kind="sql",
        name=name or f"migrations/{version}/{phase}.sql",
        body=f"-- {version} {phase}",
        database_ref="APP_DB_URL",
    )


def shell(version: str, phase: str, order: int, name: str) -> ReleaseAction:
    return ReleaseAction.create(
        version=version, phase=phase, order=order, kind="shell", name=name, body=f"./{name}"
    )


#: An up and a down migration for every version.
MIGRATIONS = [sql(v, p) for v in VERSIONS for p in ("up", "down")]


def visited(p: Plan) -> list[tuple[str, list[str]]]:
    return [(step.version, [a.name for a in step.actions]) for step in p.steps]


def flags(p: Plan) -> list[tuple[str, ...]]:
    return [step.flags for step in p.steps]


# -- the walk ---------------------------------------------------------------------


def test_fresh_environment_runs_every_up_from_the_base() -> None:
    p = plan(lineage(), None, "1.3.0", MIGRATIONS)
    assert p.direction is Direction.ROLLFORWARD
    assert p.fresh is True
    assert p.position is None
    assert visited(p) == [
        ("1.0.0", ["migrations/1.0.0/up.sql"]),
        ("1.1.0", ["migrations/1.1.0/up.sql"]),
        ("1.2.0", ["migrations/1.2.0/up.sql"]),
        ("1.3.0", ["migrations/1.3.0/up.sql"]),
    ]
    assert flags(p) == [
        ("first", "rollforward"),
        ("rollforward",),
        ("rollforward",),
        ("last", "rollforward"),
    ]
    assert [step.position_after for step in p.steps] == list(VERSIONS)
    assert [(s.index, s.total, s.phase) for s in p.steps] == [
        (1, 4, Phase.UP),
        (2, 4, Phase.UP),
        (3, 4, Phase.UP),
        (4, 4, Phase.UP),
    ]


def test_fresh_step_env_carries_flags_and_versions() -> None:
    p = plan(lineage(), None, "1.3.0", MIGRATIONS)
    assert p.steps[0].env() == {
        "SHIPMATE_DEP_FIRST": "1",
        "SHIPMATE_DEP_LAST": "0",
        "SHIPMATE_DEP_ROLLFORWARD": "1",
        "SHIPMATE_DEP_ROLLBACK": "0",
        "SHIPMATE_DEP_SAME": "0",
        "SHIPMATE_VERSION": "1.0.0",
        "SHIPMATE_FROM_VERSION": "",
        "SHIPMATE_TO_VERSION": "1.3.0",
    }
    assert p.steps[3].env()["SHIPMATE_DEP_LAST"] == "1"
    assert p.steps[3].env()["SHIPMATE_DEP_FIRST"] == "0"
    assert p.steps[3].env()["SHIPMATE_VERSION"] == "1.3.0"


def test_rollforward_runs_versions_after_current_only() -> None:
    p = plan(lineage(), "1.1.0", "1.3.0", MIGRATIONS)
    assert p.direction is Direction.ROLLFORWARD
    assert visited(p) == [
        ("1.2.0", ["migrations/1.2.0/up.sql"]),
        ("1.3.0", ["migrations/1.3.0/up.sql"]),
    ]
    assert p.steps[1].env()["SHIPMATE_FROM_VERSION"] == "1.1.0"


def test_rollback_runs_downs_of_newer_versions_only_in_descending_order() -> None:
    p = plan(lineage(), "1.3.0", "1.1.0", MIGRATIONS)
    assert p.direction is Direction.ROLLBACK
    assert visited(p) == [
        ("1.3.0", ["migrations/1.3.0/down.sql"]),
        ("1.2.0", ["migrations/1.2.0/down.sql"]),
    ]
    assert flags(p) == [("first", "rollback"), ("last", "rollback")]
    assert [step.phase for step in p.steps] == [Phase.DOWN, Phase.DOWN]
    # Undoing 1.3.0 leaves the schema at 1.2.0; undoing 1.2.0 leaves it at the target.
    assert [step.position_after for step in p.steps] == ["1.2.0", "1.1.0"]
    env = p.steps[1].env()
    assert (env["SHIPMATE_DEP_ROLLBACK"], env["SHIPMATE_DEP_ROLLFORWARD"]) == ("1", "0")
    assert (env["SHIPMATE_FROM_VERSION"], env["SHIPMATE_TO_VERSION"]) == ("1.3.0", "1.1.0")


def test_same_version_visits_the_target_with_no_actions() -> None:
    p = plan(lineage(), "1.2.0", "1.2.0", MIGRATIONS)
    assert p.direction is Direction.SAME
    assert visited(p) == [("1.2.0", [])]
    assert flags(p) == [("first", "last", "same")]
    assert p.steps[0].phase is None
    assert p.steps[0].env()["SHIPMATE_DEP_SAME"] == "1"
    assert p.action_count == 0


def test_up_actions_run_ascending_and_down_actions_descending_by_order() -> None:
    actions = [
        shell("1.1.0", "up", 2, "seed.sh"),
        sql("1.1.0", "up", 1, "create.sql"),
        shell("1.1.0", "up", 3, "warm.sh"),
        sql("1.1.0", "down", 1, "drop.sql"),
        shell("1.1.0", "down", 2, "unseed.sh"),
    ]
    forward = plan(lineage(), "1.0.0", "1.1.0", actions)
    assert visited(forward) == [("1.1.0", ["create.sql", "seed.sh", "warm.sh"])]
    back = plan(lineage(), "1.1.0", "1.0.0", actions)
    assert visited(back) == [("1.1.0", ["unseed.sh", "drop.sql"])]


# -- position: resuming after a failure ------------------------------------------


def test_position_ahead_of_app_after_failure_continues_without_repeating() -> None:
    # App on 1.0.0; a run to 1.3.0 completed 1.1.0 up, then 1.2.0 up failed.
    p = plan(lineage(), "1.0.0", "1.3.0", MIGRATIONS, position="1.1.0")
    assert p.current == "1.0.0"
    assert p.position == "1.1.0"
    assert p.direction is Direction.ROLLFORWARD
    assert visited(p) == [
        ("1.2.0", ["migrations/1.2.0/up.sql"]),
        ("1.3.0", ["migrations/1.3.0/up.sql"]),
    ]
    assert flags(p) == [("first", "rollforward"), ("last", "rollforward")]
    assert p.steps[0].env()["SHIPMATE_FROM_VERSION"] == "1.0.0"


def test_fresh_environment_resumes_after_its_position() -> None:
    p = plan(lineage(), None, "1.3.0", MIGRATIONS, position="1.1.0")
    assert [step.version for step in p.steps] == ["1.2.0", "1.3.0"]


def test_position_equal_to_current_changes_nothing() -> None:
    with_position = plan(lineage(), "1.1.0", "1.3.0", MIGRATIONS, position="1.1.0")
    without = plan(lineage(), "1.1.0", "1.3.0", MIGRATIONS)
    assert with_position == without


def test_rollback_from_partial_chain_undoes_only_what_was_applied() -> None:
    # App on 1.0.0; a run to 1.3.0 applied 1.1.0 and failed at 1.2.0. Back to 1.0.0:
    p = plan(lineage(), "1.0.0", "1.0.0", MIGRATIONS, position="1.1.0")
    assert p.direction is Direction.ROLLBACK
    assert visited(p) == [("1.1.0", ["migrations/1.1.0/down.sql"])]
    assert flags(p) == [("first", "last", "rollback")]
    assert p.steps[0].position_after == "1.0.0"


def test_interrupted_rollback_resumes_below_its_position() -> None:
    # Rolling back 1.3.0 -> 1.1.0: 1.3.0 down completed, 1.2.0 down failed.
    p = plan(lineage(), "1.3.0", "1.1.0", MIGRATIONS, position="1.2.0")
    assert visited(p) == [("1.2.0", ["migrations/1.2.0/down.sql"])]
    assert flags(p) == [("first", "last", "rollback")]


def test_schema_already_at_target_leaves_only_app_delivery() -> None:
    # Migrations to 1.3.0 all ran, delivering the app failed: re-run runs no action.
    p = plan(lineage(), "1.1.0", "1.3.0", MIGRATIONS, position="1.3.0")
    assert p.direction is Direction.ROLLFORWARD
    assert visited(p) == [("1.3.0", [])]
    assert flags(p) == [("first", "last", "rollforward")]
    assert p.steps[0].phase is None


def test_abandoned_rollback_rolls_schema_forward_again() -> None:
    # App still on 1.3.0 but its schema was rolled back to 1.1.0: redeploying 1.3.0
    # re-runs the ups, flagged rollforward (not same) because actions move forward.
    p = plan(lineage(), "1.3.0", "1.3.0", MIGRATIONS, position="1.1.0")
    assert p.direction is Direction.ROLLFORWARD
    assert [step.version for step in p.steps] == ["1.2.0", "1.3.0"]


# -- errors -----------------------------------------------------------------------


def test_target_not_in_lineage_is_a_clear_error() -> None:
    with pytest.raises(NotFoundError) as caught:
        plan(lineage(), "1.1.0", "2.0.0", MIGRATIONS)
    assert caught.value.field == "target"
    assert caught.value.message == (
        "target 2.0.0 is not a version of this product (its 4 versions run from 1.0.0 to 1.3.0)"
    )


@pytest.mark.parametrize(
    ("current", "position", "field"),
    [("0.9.0", None, "current"), ("1.0.0", "1.9.0", "position")],
)
def test_unknown_current_or_position_names_the_field(
    current: str, position: str | None, field: str
) -> None:
    with pytest.raises(NotFoundError) as caught:
        plan(lineage(), current, "1.3.0", MIGRATIONS, position=position)
    assert caught.value.field == field


def test_actions_of_unknown_versions_and_duplicate_orders_are_all_listed() -> None:
    actions = [
        sql("1.1.0", "up", 1, "a.sql"),
        sql("1.1.0", "up", 1, "b.sql"),
        sql("1.1.0", "down", 1, "c.sql"),
        sql("7.0.0", "up", 1),
    ]
    with pytest.raises(InvalidInputError) as caught:
        plan(lineage(), None, "1.3.0", actions)
    assert caught.value.field == "actions"
    assert caught.value.message == (
        "release actions cannot be planned: actions belong to versions not in the "
        "lineage: 7.0.0; actions 'a.sql' and 'b.sql' of version 1.1.0 both have up order 1"
    )
    assert [p["problem"] for p in caught.value.details["problems"]] == [
        "unknown_version",
        "duplicate_order",
    ]


# -- release actions --------------------------------------------------------------


def test_action_checksum_is_sha256_of_kind_body_and_reference() -> None:
    action = sql("1.2.0", "up")
    expected = hashlib.sha256(b"sql\x00-- 1.2.0 up\x00APP_DB_URL").hexdigest()
    assert action.checksum == expected
    assert action_checksum("sql", "-- 1.2.0 up", "APP_DB_URL") == expected
    assert action_checksum("shell", "x", None) != action_checksum("sql", "x", None)
    assert action_checksum("sql", "x", "A") != action_checksum("sql", "x", "B")
    assert action.kind is ActionKind.SQL
    assert action.phase is Phase.UP


def test_action_with_matching_checksum_loads_and_changed_one_is_refused() -> None:
    good = sql("1.2.0", "up")
    reloaded = ReleaseAction.create(**{**good.to_dict(), "checksum": good.checksum})
    assert reloaded == good
    with pytest.raises(ConflictError) as caught:
        ReleaseAction.create(**{**good.to_dict(), "body": "DROP TABLE users"})
    assert caught.value.field == "checksum"
    assert "it was changed after it was recorded" in caught.value.message


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"phase": "sideways"}, "phase", "must be 'up' or 'down'"),
        ({"kind": "python"}, "kind", "must be 'shell' or 'sql'"),
        ({"order": -1}, "order", "whole number >= 0"),
        ({"order": True}, "order", "whole number >= 0"),
        ({"name": "  "}, "name", "must not be empty"),
        ({"body": ""}, "body", "must not be empty"),
        ({"database_ref": None}, "database_ref", "needs database_ref"),
        ({"database_ref": "postgresql://u:p@db/app"}, "database_ref", "never the URL itself"),
        ({"database_ref": "APP DB"}, "database_ref", "must name an environment variable"),
        ({"kind": "shell"}, "database_ref", "takes no database_ref"),
        ({"version": ""}, "version", "must not be empty"),
    ],
)
def test_bad_action_names_the_field(changes: dict[str, object], field: str, fragment: str) -> None:
    base: dict[str, object] = {
        "version": "1.2.0",
        "phase": "up",
        "order": 1,
        "kind": "sql",
        "name": "m.sql",
        "body": "select 1",
        "database_ref": "APP_DB_URL",
    }
    with pytest.raises(InvalidInputError) as caught:
        ReleaseAction.create(**{**base, **changes})  # type: ignore[arg-type]
    assert caught.value.field == field
    assert fragment in caught.value.message


# -- rendering --------------------------------------------------------------------


def test_render_forward() -> None:
    actions = [sql("1.2.0", "up"), shell("1.2.0", "up", 2, "scripts/warm.sh")]
    lines = plan(lineage(), "1.1.0", "1.3.0", actions).render_lines("api", "production")
    assert lines == [
        "product api in production: 1.1.0 -> 1.3.0 (rollforward, 2 versions)",
        "[1/2] 1.2.0  up   first rollforward      migrations/1.2.0/up.sql (sql, db: APP_DB_URL)",
        "                                         scripts/warm.sh (shell)",
        "[2/2] 1.3.0  up   last rollforward       (no actions)",
    ]


def test_render_backward() -> None:
    lines = plan(lineage(), "1.3.0", "1.1.0", MIGRATIONS).render_lines("api", "production")
    assert lines == [
        "product api in production: 1.3.0 -> 1.1.0 (rollback, 2 versions)",
        "[1/2] 1.3.0  down first rollback         migrations/1.3.0/down.sql (sql, db: APP_DB_URL)",
        "[2/2] 1.2.0  down last rollback          migrations/1.2.0/down.sql (sql, db: APP_DB_URL)",
        "1.1.0 is the target: its own down actions do not run",
    ]


def test_render_fresh_environment() -> None:
    lines = plan(lineage(), None, "1.3.0", MIGRATIONS).render_lines("api", "staging")
    assert lines == [
        "product api in staging: none (fresh environment, starting from base 1.0.0) -> 1.3.0 "
        "(rollforward, 4 versions)",
        "[1/4] 1.0.0  up   first rollforward      migrations/1.0.0/up.sql (sql, db: APP_DB_URL)",
        "[2/4] 1.1.0  up   rollforward            migrations/1.1.0/up.sql (sql, db: APP_DB_URL)",
        "[3/4] 1.2.0  up   rollforward            migrations/1.2.0/up.sql (sql, db: APP_DB_URL)",
        "[4/4] 1.3.0  up   last rollforward       migrations/1.3.0/up.sql (sql, db: APP_DB_URL)",
    ]


def test_render_same_and_resumed() -> None:
    same = plan(lineage(), "1.3.0", "1.3.0", MIGRATIONS).render_lines("api", "production")
    assert same == [
        "product api in production: 1.3.0 -> 1.3.0 (same, 1 version)",
        "[1/1] 1.3.0  -    first last same        (no actions)",
    ]
    resumed = plan(lineage(), "1.0.0", "1.3.0", MIGRATIONS, position="1.1.0")
    assert resumed.render_lines("api", "production")[:2] == [
        "product api in production: 1.0.0 -> 1.3.0 (rollforward, 2 versions)",
        "schema position: 1.1.0 (actions have run up to here; the walk starts from it)",
    ]
    fresh_resumed = plan(lineage(), None, "1.3.0", MIGRATIONS, position="1.1.0")
    assert fresh_resumed.render_lines("api", "production")[0] == (
        "product api in production: none (fresh environment) -> 1.3.0 (rollforward, 2 versions)"
    )


def test_render_pads_counter_and_version_columns() -> None:
    versions = tuple(f"1.{i}.0" for i in range(11))
    lines = plan(lineage(*versions), None, "1.10.0", []).render_lines("api", "dev")
    assert lines[1] == " ".join(
        ["[1/11] ", "1.0.0  ", "up  ", "first rollforward     ", "(no actions)"]
    )
    assert lines[11] == "[11/11] 1.10.0  up   last rollforward       (no actions)"


def test_to_dict_for_json() -> None:
    data = plan(lineage(), "1.3.0", "1.2.0", MIGRATIONS).to_dict()
    assert data["current"] == "1.3.0"
    assert data["target"] == "1.2.0"
    assert data["direction"] == "rollback"
    assert data["fresh"] is False
    assert data["versions"] == ["1.3.0"]
    step = data["steps"][0]
    assert step["phase"] == "down"
    assert step["flags"] == {
        "first": True,
        "last": True,
        "rollforward": False,
        "rollback": True,
        "same": False,
    }
    assert step["position_after"] == "1.2.0"
    assert step["env"]["SHIPMATE_VERSION"] == "1.3.0"
    assert step["actions"][0]["name"] == "migrations/1.3.0/down.sql"
    assert step["actions"][0]["database_ref"] == "APP_DB_URL"


# -- live log lines ---------------------------------------------------------------


def test_format_step_progress() -> None:
    p = plan(lineage(), "1.0.0", "1.3.0", MIGRATIONS)
    step = p.steps[1]
    assert (
        format_step_progress(step, step.actions[0], "ok", 120)
        == "[2/3] 1.2.0 up: migrations/1.2.0/up.sql … ok 120 ms"
    )
    assert (
        format_step_progress(step, step.actions[0], "failed", 2345.6)
        == "[2/3] 1.2.0 up: migrations/1.2.0/up.sql … failed 2.3 s"
    )
    assert (
        format_step_progress(step, step.actions[0], "running")
        == "[2/3] 1.2.0 up: migrations/1.2.0/up.sql … running"
    )
    same = plan(lineage(), "1.3.0", "1.3.0", MIGRATIONS).steps[0]
    assert format_step_progress(same, None, "ok", 0) == "[1/1] 1.3.0: no actions … ok 0 ms"
