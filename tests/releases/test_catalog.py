"""Registering release actions, syncing a versions folder, immutability, plans, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipmate.config import Settings
from shipmate.domain.requests import RecordRequest
from shipmate.errors import ConflictError, InvalidInputError, NotFoundError, ShipmateError
from shipmate.services.context import Context
from shipmate.services.records.deployments import record_deployment
from shipmate.services.releases.actions import ActionSpec, add_action, list_actions
from shipmate.services.releases.folder import read_versions_dir
from shipmate.services.releases.lineage import load_lineage, set_predecessor
from shipmate.services.releases.plans import plan_for
from shipmate.services.releases.positions import set_position
from shipmate.services.releases.settings import release_settings
from shipmate.services.releases.sync import DeclaredVersion, sync_versions
from tests.releases.scenario import VERSIONS, add_versions, write_versions_dir


def deploy(ctx: Context, version: str, env: str = "production") -> None:
    record_deployment(
        ctx, RecordRequest(environment=env, status="completed", product="api", version=version)
    )


# -- add-action ---------------------------------------------------------------------------


def test_add_action_orders_and_is_idempotent(ctx: Context) -> None:
    first = add_action(ctx, "api", ActionSpec("1.0.0", "up", "shell", "echo one"))
    second = add_action(ctx, "api", ActionSpec("1.0.0", "up", "shell", "echo two"))
    assert (first.change, first.stored.action.order, first.stored.action.name) == (
        "created",
        10,
        "echo one",
    )
    assert second.stored.action.order == 20
    again = add_action(ctx, "api", ActionSpec("1.0.0", "up", "shell", "echo one", order=10))
    assert again.change == "unchanged"
    assert again.stored.id == first.stored.id
    with pytest.raises(ConflictError) as info:
        add_action(ctx, "api", ActionSpec("1.0.0", "up", "shell", "echo other", order=10))
    assert info.value.field == "order"
    replaced = add_action(
        ctx, "api", ActionSpec("1.0.0", "up", "shell", "echo other", order=10), replace=True
    )
    assert replaced.change == "replaced"
    assert [a.action.body for a in list_actions(ctx, "api")] == ["echo other", "echo two"]


def test_actions_are_immutable_once_the_version_was_deployed(ctx: Context) -> None:
    add_versions(ctx, ("1.0.0", "1.1.0"))
    deploy(ctx, "1.0.0")
    before = [a.to_dict() for a in list_actions(ctx, "api", version="1.0.0")]

    # The identical action is fine ...
    same = add_action(
        ctx,
        "api",
        ActionSpec(
            "1.0.0",
            "up",
            "sql",
            "CREATE TABLE t_1_0_0 (id INTEGER PRIMARY KEY, note TEXT);",
            "1.0.0/up/010-create.sql",
            10,
            "APP_DB_URL",
        ),
    )
    assert same.change == "unchanged"
    # ... a change, even with replace, is refused: make a new version.
    with pytest.raises(ConflictError) as info:
        add_action(
            ctx,
            "api",
            ActionSpec("1.0.0", "up", "sql", "CREATE TABLE x (id INTEGER);", "x", 10, "APP_DB_URL"),
            replace=True,
        )
    assert info.value.field == "version"
    assert info.value.message.startswith(
        "the actions of api 1.0.0 are immutable because it was deployed (deployment 1 to "
        "production); refused: changing up action #10"
    )
    assert "new version" in info.value.message
    with pytest.raises(ConflictError):  # adding one is a change too
        add_action(ctx, "api", ActionSpec("1.0.0", "down", "shell", "echo late", order=99))
    assert [a.to_dict() for a in list_actions(ctx, "api", version="1.0.0")] == before
    # A version that was never deployed still changes.
    changed = add_action(
        ctx, "api", ActionSpec("1.1.0", "up", "shell", "echo new", order=20), replace=True
    )
    assert changed.change == "replaced"


def test_actions_are_immutable_once_they_ran_as_an_interim_version(
    ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipmate.services.releases.walk import run_interim_actions

    monkeypatch.setenv("APP_DB_URL", f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.setenv("ACTION_LOG", str(tmp_path / "log"))
    add_versions(ctx, ("1.0.0", "1.1.0"))
    assert run_interim_actions(ctx, "api", "dev", "1.1.0").ok  # no deployment rows at all
    with pytest.raises(ConflictError) as info:
        add_action(ctx, "api", ActionSpec("1.0.0", "up", "shell", "echo x", order=20), replace=True)
    assert "because its actions ran in dev" in info.value.message


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "field", "text"),
    [
        (ActionSpec("1.0.0", "sideways", "shell", "echo"), "phase", "must be 'up' or 'down'"),
        (ActionSpec("1.0.0", "up", "perl", "print 1"), "kind", "must be 'shell' or 'sql'"),
        (ActionSpec("1.0.0", "up", "shell", "   "), "body", "must not be empty"),
        (ActionSpec("1.0.0", "up", "shell", "echo", order=-1), "order", ">= 0"),
        (ActionSpec("1.0.0", "up", "sql", "SELECT 1;"), "database_ref", "needs database_ref"),
        (
            ActionSpec("1.0.0", "up", "sql", "SELECT 1;", database_ref="postgresql://u:pw@h/db"),
            "database_ref",
            "never the URL itself",
        ),
        (
            ActionSpec("1.0.0", "up", "sql", "SELECT 1;", database_ref="SHIPMATE_DATABASE_URL"),
            "database_ref",
            "shipmate's own settings",
        ),
        (
            ActionSpec("1.0.0", "up", "shell", "echo", database_ref="APP_DB_URL"),
            "database_ref",
            "takes no database_ref",
        ),
        (ActionSpec("", "up", "shell", "echo"), "version", "must not be empty"),
        (ActionSpec("1.0.0", "up", "shell", "x" * (1024 * 1024 + 1)), "body", "the limit is"),
    ],
)
def test_bad_actions_are_refused_naming_the_field(
    ctx: Context, spec: ActionSpec, field: str, text: str
) -> None:
    with pytest.raises(ShipmateError) as info:
        add_action(ctx, "api", spec)
    assert info.value.field == field
    assert text in info.value.message
    assert "pw@" not in info.value.message
    with pytest.raises(NotFoundError):
        list_actions(ctx, "api")  # nothing was written, not even the product


def test_release_settings_are_validated() -> None:
    assert release_settings(Settings()).action_timeout == 900.0
    good = Settings(sections={"releases": {"action_timeout": 30, "lineage": "strict"}})
    assert release_settings(good).lineage == "strict"
    for table, key in [
        ({"action_timeout": -1}, "releases.action_timeout"),
        ({"lineage": "loose"}, "releases.lineage"),
        ({"bogus": 1}, "releases.bogus"),
    ]:
        with pytest.raises(ShipmateError) as info:
            release_settings(Settings(sections={"releases": table}))
        assert info.value.field == key


# -- versions folder -----------------------------------------------------------------------


def test_sync_reads_the_folder_and_resync_is_a_no_op(ctx: Context, tmp_path: Path) -> None:
    folder = write_versions_dir(tmp_path)
    (folder / "README.md").write_text("notes")
    (folder / "1.1.0" / "up" / "notes.txt").write_text("ignored")
    (folder / "1.2.0" / "release.toml").write_text(
        'predecessor = "1.1.0"\ndatabase_ref = "APP_DB_URL"\n'
    )
    declared, ignored = read_versions_dir(folder)
    assert [d.version for d in declared] == list(VERSIONS)
    assert ignored == ["versions/1.1.0/up/notes.txt", "versions/README.md"]
    first = declared[0]
    assert [(str(a.phase), a.order, str(a.kind), a.name) for a in first.actions] == [
        ("down", 10, "shell", "versions/1.0.0/down/010-log.sh"),
        ("down", 20, "sql", "versions/1.0.0/down/020-drop.sql"),
        ("up", 10, "sql", "versions/1.0.0/up/010-create.sql"),
        ("up", 20, "shell", "versions/1.0.0/up/020-log.sh"),
    ]
    assert first.actions[1].database_ref == "APP_DB_URL"

    report = sync_versions(ctx, "api", declared, ignored=ignored)
    assert report.changed
    assert [v.version for v in report.versions if v.created] == list(VERSIONS)
    assert len(list_actions(ctx, "api")) == 16
    assert load_lineage(ctx, "api").nodes["1.2.0"].predecessor == "1.1.0"

    again = sync_versions(ctx, "api", read_versions_dir(folder)[0])
    assert not again.changed

    # A new file in an undeployed version is added; a removed one is removed.
    (folder / "1.3.0" / "up" / "030-more.sh").write_text("echo more\n")
    (folder / "1.3.0" / "down" / "020-drop.sql").unlink()
    changed = sync_versions(ctx, "api", read_versions_dir(folder)[0])
    v130 = next(v for v in changed.versions if v.version == "1.3.0")
    assert v130.added == ("versions/1.3.0/up/030-more.sh",)
    assert v130.removed == ("versions/1.3.0/down/020-drop.sql",)
    assert v130.replaced == ()
    assert [v.version for v in changed.versions if v.changed] == ["1.3.0"]


def test_sync_refuses_changes_to_deployed_versions_and_writes_nothing(
    ctx: Context, tmp_path: Path
) -> None:
    folder = write_versions_dir(tmp_path, ("1.0.0", "1.1.0"))
    sync_versions(ctx, "api", read_versions_dir(folder)[0])
    deploy(ctx, "1.0.0")
    before = [a.to_dict() for a in list_actions(ctx, "api")]

    (folder / "1.0.0" / "up" / "010-create.sql").write_text("CREATE TABLE changed (id INT);\n")
    (folder / "1.1.0" / "up" / "030-new.sh").write_text("echo new\n")  # allowed on its own
    (folder / "1.2.0").mkdir()  # a new version in the same sync

    with pytest.raises(ConflictError) as info:
        sync_versions(ctx, "api", read_versions_dir(folder)[0])

    assert info.value.field == "version"
    assert "nothing was synced" in info.value.message
    assert "changing up #10 'versions/1.0.0/up/010-create.sql'" in info.value.message
    assert info.value.details["refused"][0]["version"] == "1.0.0"
    assert [a.to_dict() for a in list_actions(ctx, "api")] == before
    assert "1.2.0" not in load_lineage(ctx, "api")  # the whole sync rolled back


def test_sync_keeps_versions_missing_from_the_folder(ctx: Context, tmp_path: Path) -> None:
    """A rollback always has the downs of versions newer than the code on disk."""
    add_versions(ctx)
    folder = write_versions_dir(tmp_path, ("1.0.0",))
    sync_versions(ctx, "api", read_versions_dir(folder)[0])
    downs = [a.action.name for a in list_actions(ctx, "api", version="1.3.0")]
    assert "1.3.0/down/020-drop.sql" in downs


@pytest.mark.parametrize(
    ("setup", "field", "text"),
    [
        (None, "dir", "does not exist"),
        (
            lambda f: (
                (f / "1.0.0" / "up").mkdir(parents=True)
                or (f / "1.0.0" / "up" / "010.sql").write_text("SELECT 1;")
            ),
            "database_ref",
            "no database_ref is set",
        ),
        (
            lambda f: (
                (f / "1.0.0").mkdir(parents=True)
                or (f / "1.0.0" / "release.toml").write_text('predecesor = "0.9.0"')
            ),
            "release.toml.predecesor",
            "unknown key",
        ),
        (
            lambda f: (
                (f / "1.0.0" / "up").mkdir(parents=True)
                or (f / "1.0.0" / "up" / "010.sh").write_text("  \n")
            ),
            "dir",
            "is empty",
        ),
    ],
)
def test_bad_versions_folders_are_refused(
    tmp_path: Path, setup: object, field: str, text: str
) -> None:
    folder = tmp_path / "versions"
    if setup is not None:
        folder.mkdir()
        setup(folder)  # type: ignore[operator]
    with pytest.raises(InvalidInputError) as info:
        read_versions_dir(folder)
    assert info.value.field == field
    assert text in info.value.message


def test_declared_versions_from_json_name_the_field() -> None:
    ok = DeclaredVersion.from_dict(
        {
            "version": "1.0.0",
            "actions": [{"phase": "up", "order": 10, "kind": "shell", "name": "a", "body": "x"}],
        }
    )
    assert ok.actions[0].order == 10
    with pytest.raises(InvalidInputError) as info:
        DeclaredVersion.from_dict(
            {
                "version": "1.0.0",
                "actions": [{"phase": "up", "order": 1, "kind": "sh", "name": "a", "body": "x"}],
            },
            field="versions[0]",
        )
    assert info.value.field == "versions[0].actions[0].kind"


# -- predecessors, lineage and plans --------------------------------------------------------


def test_predecessors_shape_the_lineage(ctx: Context) -> None:
    add_versions(ctx, ("1.0.0", "1.1.0", "1.2.0"))
    answer = set_predecessor(ctx, "api", "1.2.0", "1.0.0")
    assert answer["predecessor_known"] is True
    assert load_lineage(ctx, "api").versions == ("1.0.0", "1.2.0", "1.1.0")
    set_predecessor(ctx, "api", "1.2.0", None)
    assert load_lineage(ctx, "api").versions == ("1.0.0", "1.1.0", "1.2.0")
    with pytest.raises(InvalidInputError) as info:
        set_predecessor(ctx, "api", "1.2.0", "1.2.0")
    assert info.value.field == "predecessor"


def test_opaque_versions_follow_first_appearance(ctx: Context) -> None:
    for sha in ("c0ffee1", "0badf00", "abc1234"):
        add_action(ctx, "web", ActionSpec(sha, "up", "shell", f"echo {sha}"))
    assert load_lineage(ctx, "web").versions == ("c0ffee1", "0badf00", "abc1234")
    plan = plan_for(ctx, "web", "prod", "abc1234")
    assert [s.version for s in plan.steps] == ["c0ffee1", "0badf00", "abc1234"]


def plan_lines(ctx: Context, env: str, target: str) -> list[str]:
    return plan_for(ctx, "api", env, target).render_lines("api", env)


def test_plan_lines_fresh_environment(ctx: Context) -> None:
    add_versions(ctx)
    assert plan_lines(ctx, "staging", "1.2.0") == [
        "product api in staging: none (fresh environment, starting from base 1.0.0) -> 1.2.0 "
        "(rollforward, 3 versions)",
        "[1/3] 1.0.0  up   first rollforward      1.0.0/up/010-create.sql (sql, db: APP_DB_URL)",
        "                                         1.0.0/up/020-log.sh (shell)",
        "[2/3] 1.1.0  up   rollforward            1.1.0/up/010-create.sql (sql, db: APP_DB_URL)",
        "                                         1.1.0/up/020-log.sh (shell)",
        "[3/3] 1.2.0  up   last rollforward       1.2.0/up/010-create.sql (sql, db: APP_DB_URL)",
        "                                         1.2.0/up/020-log.sh (shell)",
    ]


def test_plan_lines_forward(ctx: Context) -> None:
    add_versions(ctx)
    deploy(ctx, "1.1.0")
    assert plan_lines(ctx, "production", "1.3.0") == [
        "product api in production: 1.1.0 -> 1.3.0 (rollforward, 2 versions)",
        "[1/2] 1.2.0  up   first rollforward      1.2.0/up/010-create.sql (sql, db: APP_DB_URL)",
        "                                         1.2.0/up/020-log.sh (shell)",
        "[2/2] 1.3.0  up   last rollforward       1.3.0/up/010-create.sql (sql, db: APP_DB_URL)",
        "                                         1.3.0/up/020-log.sh (shell)",
    ]


def test_plan_lines_backward(ctx: Context) -> None:
    add_versions(ctx)
    deploy(ctx, "1.3.0")
    assert plan_lines(ctx, "production", "1.0.0") == [
        "product api in production: 1.3.0 -> 1.0.0 (rollback, 3 versions)",
        "[1/3] 1.3.0  down first rollback         1.3.0/down/020-drop.sql (sql, db: APP_DB_URL)",
        "                                         1.3.0/down/010-log.sh (shell)",
        "[2/3] 1.2.0  down rollback               1.2.0/down/020-drop.sql (sql, db: APP_DB_URL)",
        "                                         1.2.0/down/010-log.sh (shell)",
        "[3/3] 1.1.0  down last rollback          1.1.0/down/020-drop.sql (sql, db: APP_DB_URL)",
        "                                         1.1.0/down/010-log.sh (shell)",
        "1.0.0 is the target: its own down actions do not run",
    ]


def test_plan_starts_from_the_schema_position(ctx: Context) -> None:
    add_versions(ctx)
    deploy(ctx, "1.3.0")
    set_position(ctx, "api", "production", "1.2.0")
    assert plan_lines(ctx, "production", "1.3.0") == [
        "product api in production: 1.3.0 -> 1.3.0 (rollforward, 1 version)",
        "schema position: 1.2.0 (actions have run up to here; the walk starts from it)",
        "[1/1] 1.3.0  up   first last rollforward 1.3.0/up/010-create.sql (sql, db: APP_DB_URL)",
        "                                         1.3.0/up/020-log.sh (shell)",
    ]


def test_plan_changes_nothing(ctx: Context) -> None:
    add_versions(ctx)
    plan_for(ctx, "api", "brand-new-env", "1.3.0")
    from shipmate.services.releases.positions import get_position

    assert get_position(ctx, "api", "brand-new-env") is None
    from shipmate.services.queries import current_matrix

    assert [e[0] for e in current_matrix(ctx).environments] == []
