"""``shipmate plan`` and ``shipmate release ...`` end to end: local and remote mode."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipmate.cli import main
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from tests.releases.conftest import AppDb
from tests.releases.scenario import VERSIONS, log_lines, table, write_versions_dir
from tests.support.server import ServerProcess


@pytest.fixture
def cli(  # type: ignore[no-untyped-def]
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    app_db: AppDb,
):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("SHIPMATE_DATABASE_URL", database_url)
    monkeypatch.setenv("APP_DB_URL", app_db.url)
    monkeypatch.setenv("ACTION_LOG", str(tmp_path / "actions.log"))
    monkeypatch.setenv("SHIPMATE_PRODUCT", "api")

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_sync_plan_apply_log_round_trip(cli, tmp_path: Path, app_db: AppDb) -> None:  # type: ignore[no-untyped-def]
    write_versions_dir(tmp_path / "work")
    code, out, err = cli("release", "sync")
    assert code == 0, err
    assert out.splitlines() == [f"{v}: new version, 4 added" for v in VERSIONS]
    code, out, _ = cli("release", "sync")
    assert out.splitlines() == [f"{v}: unchanged" for v in VERSIONS]

    code, out, _ = cli("plan", "--env", "staging", "--to", "1.1.0")
    assert code == 0
    assert out.splitlines() == [
        "product api in staging: none (fresh environment, starting from base 1.0.0) -> 1.1.0 "
        "(rollforward, 2 versions)",
        "[1/2] 1.0.0  up   first rollforward      versions/1.0.0/up/010-create.sql "
        "(sql, db: APP_DB_URL)",
        "                                         versions/1.0.0/up/020-log.sh (shell)",
        "[2/2] 1.1.0  up   last rollforward       versions/1.1.0/up/010-create.sql "
        "(sql, db: APP_DB_URL)",
        "                                         versions/1.1.0/up/020-log.sh (shell)",
    ]
    code, out, _ = cli("plan", "--env", "staging", "--to", "1.1.0", "--json")
    body = json.loads(out)
    assert body["plan"]["versions"] == ["1.0.0", "1.1.0"]
    assert body["plan"]["steps"][0]["env"]["SHIPMATE_DEP_FIRST"] == "1"

    code, out, err = cli("release", "apply", "--env", "staging", "--to", "1.3.0")
    assert code == 0, err
    lines = [re.sub(r"\d+ ms$", "N ms", line) for line in out.splitlines()]
    assert lines[0] == (
        "product api in staging: none (fresh environment, starting from base 1.0.0) -> 1.3.0 "
        "(rollforward, 4 versions)"
    )
    assert lines[1:4] == [
        "[1/4] 1.0.0 up: versions/1.0.0/up/010-create.sql … ok N ms",
        "[1/4] 1.0.0 up: versions/1.0.0/up/020-log.sh … ok N ms",
        "[2/4] 1.1.0 up: versions/1.1.0/up/010-create.sql … ok N ms",
    ]
    assert lines[-1].startswith("rollforward of api to 1.3.0 in staging completed (deployment ")
    assert lines[-1].endswith("schema position 1.3.0")
    assert {table(v) for v in VERSIONS} <= app_db.tables()

    code, out, _ = cli("current", "--json")
    assert json.loads(out)["cells"][0]["version"] == "1.3.0"

    code, out, _ = cli("release", "log", "--env", "staging", "--limit", "2", "--output")
    assert code == 0
    assert re.match(
        r"#8 \S+ \S+ staging \[4/4\] 1\.3\.0 up: versions/1\.3\.0/up/020-log\.sh … ok \S+$",
        out.splitlines()[0],
    )
    assert "    | logged 1.3.0 up" in out.splitlines()
    code, out, _ = cli("release", "log", "--env", "staging", "--limit", "3", "--all", "--json")
    every = json.loads(out)
    assert code == 0 and every["next_before"] is None
    assert [e["id"] for e in every["items"]] == [str(n) for n in range(8, 0, -1)]

    code, out, _ = cli("release", "apply", "--env", "staging", "--to", "1.1.0", "--json")
    body = json.loads(out)
    assert body["ok"] and body["deployment"]["kind"] == "rollback"
    assert [e["version"] for e in body["executions"]] == ["1.3.0", "1.3.0", "1.2.0", "1.2.0"]


def test_apply_failure_exits_1_naming_version_and_output(
    cli, tmp_path: Path, app_db: AppDb
) -> None:  # type: ignore[no-untyped-def]
    write_versions_dir(tmp_path / "work", ("1.0.0", "1.1.0"))
    assert cli("release", "sync")[0] == 0
    app_db.execute(f"CREATE TABLE {table('1.1.0')} (id INTEGER)")  # 1.1.0's up will fail
    code, out, err = cli("release", "apply", "--env", "dev", "--to", "1.1.0")
    assert code == 1
    assert "[2/2] 1.1.0 up: versions/1.1.0/up/010-create.sql … FAILED" in out
    assert "    error: statement 1 of 1 failed" in out
    assert err.startswith(
        "shipmate: error [action]: 1.1.0 up action 'versions/1.1.0/up/010-create.sql' failed: "
    )
    assert "the schema position stays at 1.0.0" in err
    assert "recorded failed" in err
    code, out, _ = cli("history", "--json")
    item = json.loads(out)["items"][0]
    assert (item["status"], item["kind"]) == ("failed", "rollforward")
    assert item["metadata"]["release_actions"]["failed_version"] == "1.1.0"


def test_add_action_list_and_predecessor(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sql = tmp_path / "work" / "001.sql"
    sql.write_text("CREATE TABLE a (id INTEGER);")
    code, out, err = cli(
        "release", "add-action", "--version", "1.0.0", "--phase", "up",
        "--sql-file", "001.sql", "--database-ref", "APP_DB_URL",
    )  # fmt: skip
    assert code == 0, err
    assert re.match(r"created: api 1\.0\.0 up #10 001\.sql \(sql, checksum [0-9a-f]{12}\)$", out)
    code, out, _ = cli(
        "release", "add-action", "--version", "1.1.0", "--phase", "down", "--command", "echo bye"
    )
    assert out.startswith("created: api 1.1.0 down #10 echo bye (shell")
    code, out, _ = cli("release", "set-predecessor", "--version", "1.1.0", "--predecessor", "1.0.0")
    assert out == "api 1.1.0 follows 1.0.0\n"
    code, out, _ = cli("release", "list")
    rows = out.splitlines()
    assert rows[0].split() == ["VERSION", "PHASE", "ORDER", "KIND", "NAME", "DATABASE", "CHECKSUM"]
    assert rows[1].split()[:6] == ["1.0.0", "up", "10", "sql", "001.sql", "APP_DB_URL"]
    assert rows[2].split()[:5] == ["1.1.0", "down", "10", "shell", "echo"]
    assert rows[-1] == "1.1.0 follows 1.0.0 (explicit predecessor)"


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (
            ["release", "add-action", "--version", "1.0.0", "--phase", "sideways", "--command", "x"],
            2,
            "[phase]",
        ),
        (
            ["release", "add-action", "--version", "1.0.0", "--phase", "up",
             "--sql-file", "missing.sql", "--database-ref", "APP_DB_URL"],
            2,
            "[sql_file]: missing.sql does not exist",
        ),
        (
            ["release", "add-action", "--version", "1.0.0", "--phase", "up",
             "--sql-file", "x.sql", "--database-ref", "sqlite:///app.db"],
            2,
            "[database_ref]",
        ),
        (
            ["release", "add-action", "--version", "1.0.0", "--phase", "up", "--sql-file", "x.sql"],
            2,
            "[database_ref]: --sql-file needs --database-ref",
        ),
        (["release", "sync", "--dir", "nowhere"], 2, "[dir]"),
        (["plan", "--env", "prod", "--to", "1.0.0", "--product", "ghost"], 1, "[product]"),
        (["release", "apply", "--env", "prod", "--to", "1.0.0", "--timeout", "0"], 2, "[timeout]"),
        (["release", "log", "--run", "abc"], 2, "[run]"),
    ],
)  # fmt: skip
def test_bad_input_names_the_field(cli, argv: list[str], code: int, needle: str) -> None:  # type: ignore[no-untyped-def]
    Path("x.sql").write_text("SELECT 1;")
    got, out, err = cli(*argv)
    assert got == code, (out, err)
    assert needle in err
    assert "Traceback" not in err
    assert "sqlite:///app.db" not in err


def test_strict_flag_refuses_a_gap_before_running(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = write_versions_dir(tmp_path / "work", ("1.0.0", "1.1.0"))
    (folder / "1.1.0" / "release.toml").write_text(
        'predecessor = "1.0.5"\ndatabase_ref = "APP_DB_URL"\n'
    )
    assert cli("release", "sync")[0] == 0
    code, _out, err = cli("release", "apply", "--env", "dev", "--to", "1.1.0", "--strict")
    assert code == 1
    assert "[predecessor]" in err and "1.0.5" in err
    assert log_lines(tmp_path / "actions.log") == []


# -- remote mode --------------------------------------------------------------------------


@pytest.fixture
def remote(  # type: ignore[no-untyped-def]
    ctx: Context,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator:
    with ServerProcess(ctx.settings.database_url, log_path=tmp_path / "server.log") as server:
        token = create_key(ctx, "ci", "admin").token
        monkeypatch.setenv("SHIPMATE_URL", server.base_url)
        monkeypatch.setenv("SHIPMATE_TOKEN", token)
        monkeypatch.setenv("SHIPMATE_RETRY_SECONDS", "2")
        work = tmp_path / "work"
        work.mkdir()
        monkeypatch.chdir(work)

        def run(*argv: str) -> tuple[int, str, str]:
            code = main(list(argv))
            out, err = capsys.readouterr()
            return code, out, err

        yield run


def test_remote_sync_plan_list_and_apply_refused(remote, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_versions_dir(tmp_path / "work", ("1.0.0", "1.1.0"))
    code, out, err = remote("release", "sync", "--product", "api")
    assert code == 0, err
    assert out.splitlines() == ["1.0.0: new version, 4 added", "1.1.0: new version, 4 added"]
    code, out, _ = remote("plan", "--product", "api", "--env", "prod", "--to", "1.1.0")
    assert out.splitlines()[0] == (
        "product api in prod: none (fresh environment, starting from base 1.0.0) -> 1.1.0 "
        "(rollforward, 2 versions)"
    )
    assert len(out.splitlines()) == 5
    code, out, _ = remote("release", "list", "--product", "api", "--json")
    assert len(json.loads(out)["items"]) == 8
    code, out, _ = remote(
        "release", "add-action", "--product", "api", "--version", "1.1.0", "--phase", "up",
        "--command", "echo changed", "--order", "10", "--replace",
    )  # fmt: skip
    assert code == 0 and out.startswith("replaced: api 1.1.0 up #10 echo changed")
    code, out, _ = remote(
        "release", "set-predecessor", "--product", "api", "--version", "1.1.0", "--clear"
    )
    assert out == "api 1.1.0: no explicit predecessor\n"
    code, out, err = remote(
        "release", "apply", "--product", "api", "--env", "prod", "--to", "1.0.0"
    )
    assert code == 2 and "[url]" in err
    code, out, err = remote("plan", "--product", "api", "--env", "prod", "--to", "9.9.9")
    assert code == 1 and "[target]" in err
