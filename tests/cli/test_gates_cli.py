"""The gates commands, locally and against a real `shipmate serve`: same output, same exit codes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shipmate.cli import main
from shipmate.cli.gates.handlers import explain_refusal, relative
from shipmate.domain.inputs.fields import format_time
from shipmate.errors import GateBlockedError
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from tests.support.server import ServerProcess

Run = Callable[..., tuple[int, str, str]]


def freeze_now(run: Run, name: str = "freeze-now", *extra: str) -> str:
    """A one-off freeze from an hour ago to two hours from now; returns its end."""
    now = datetime.now(UTC).replace(microsecond=0)
    end = format_time(now + timedelta(hours=2))
    assert end is not None
    code, out, err = run(
        "gates",
        "add",
        "--name",
        name,
        "--kind",
        "freeze",
        "--start",
        format_time(now - timedelta(hours=1)) or "",
        "--end",
        end,
        "--reason",
        "release party",
        *extra,
    )
    assert (code, err) == (0, ""), err
    assert out == f"added gate rule {name!r} (freeze, enabled)\n"
    return end


RETRY = re.compile(r"; retry after (\S+) \(in (1h 5\dm|2h)\)$")


def assert_freeze_refusal(err: str, end: str) -> None:
    assert len(err.splitlines()) == 1, err
    assert err.startswith(
        "shipmate: error: deployment blocked by gate rule 'freeze-now' (NO_DEPLOY_WINDOW): "
    )
    assert "are frozen from" in err and "release party" in err
    match = RETRY.search(err.strip())
    assert match is not None, err
    assert match.group(1) == end


# ------------------------------------------------------------------- local


def test_rules_management(cli: Run) -> None:
    assert cli("gates", "list") == (
        0,
        "No gate rules. Add [[gates]] to shipmate.toml or run, e.g.: "
        "shipmate gates add --name one-at-a-time --kind concurrency\n",
        "",
    )
    code, out, _ = cli(
        "gates", "add", "--name", "one", "--kind", "concurrency", "--lease", "45m", "--env", "prod*"
    )
    assert (code, out) == (0, "added gate rule 'one' (concurrency, enabled)\n")
    code, out, _ = cli(
        "gates",
        "add",
        "--definition",
        '{"name": "weekend", "kind": "freeze", "cron": "0 22 * * fri", "duration": "10h"}',
        "--timezone",
        "Europe/Berlin",
        "--mode",
        "report_only",
        "--json",
    )
    rule = json.loads(out)
    assert (code, rule["timezone"], rule["mode"], rule["duration_seconds"]) == (
        0,
        "Europe/Berlin",
        "report_only",
        36000,
    )
    code, out, _ = cli(
        "gates", "add", "--name", "flow", "--kind", "flow", "--requires", "staging", "--soak", "1d"
    )
    assert code == 0
    code, out, _ = cli("gates", "list")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "MODE", "PRODUCTS", "ENVS", "SOURCE", "SETTINGS"]
    assert lines[1].split()[:6] == ["one", "concurrency", "enabled", "all", "prod*", "database"]
    assert "lease 2700s" in lines[1]
    assert "cron '0 22 * * fri' for 36000s Europe/Berlin" in lines[2]
    assert "after staging, soak 86400s" in lines[3]
    assert cli("gates", "set-mode", "one", "disabled") == (
        0,
        "set gate rule 'one' (concurrency, disabled)\n",
        "",
    )
    assert cli("gates", "remove", "flow")[:2] == (0, "removed gate rule 'flow' (flow, enabled)\n")
    code, out, _ = cli("gates", "list", "--json")
    assert [(r["name"], r["mode"]) for r in json.loads(out)["items"]] == [
        ("one", "disabled"),
        ("weekend", "report_only"),
    ]


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (
            ["--name", "x", "--kind", "freeze", "--cron", "0 25 * * *", "--duration", "1h"],
            2,
            "[cron]",
        ),
        (
            ["--name", "x", "--kind", "freeze", "--start", "2026-01-02", "--end", "2026-01-01"],
            2,
            "[end]",
        ),
        (["--name", "x", "--kind", "concurrency", "--soak", "1h"], 2, "[soak]"),
        (["--name", "x", "--kind", "nope"], 2, "[kind]"),
        (["--name", "x", "--kind", "flow"], 2, "[required_environments]"),
        (["--definition", "[1]"], 2, "[definition]"),
        (["--definition", "{"], 2, "[definition]"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(
    cli: Run, argv: list[str], code: int, needle: str
) -> None:
    got, out, err = cli("gates", "add", *argv)
    assert (got, out) == (code, "")
    assert err.startswith("shipmate: error") and needle in err and len(err.splitlines()) == 1


def test_refused_record_exits_3_with_rule_reason_and_retry(cli: Run) -> None:
    end = freeze_now(cli)
    code, out, err = cli(
        "record", "--product", "api", "--version", "1.0.0", "--env", "production",
        "--status", "started", "--no-detect",
    )  # fmt: skip
    assert (code, out) == (3, "")
    assert_freeze_refusal(err, end)
    # A completed event with no start is history: recorded, not evaluated.
    code, out, err = cli(
        "record", "--product", "api", "--version", "0.9.0", "--env", "production",
        "--status", "completed", "--no-detect",
    )  # fmt: skip
    assert code == 0 and out.endswith("completed\n")
    # gates check: the same verdict, exit 3, nothing recorded.
    code, out, err = cli(
        "gates", "check", "--product", "api", "--version", "1.0.0", "--env", "production"
    )
    assert code == 3
    assert "freeze-now  freeze  enabled  BLOCK" in out
    assert err.startswith("shipmate: blocked by gate rule 'freeze-now' (NO_DEPLOY_WINDOW)")
    assert RETRY.search(err.strip()) is not None
    code, out, _ = cli(
        "gates", "check", "--product", "api", "--version", "1.0.0", "--env", "staging", "--json"
    )
    assert code == 3 and json.loads(out)["blocking"]["retry_after"] == end
    code, out, _ = cli("history", "--product", "api", "--json")
    assert [d["version"] for d in json.loads(out)["items"]] == ["0.9.0"]
    # Overrides need a reason; with one they pass and are recorded.
    code, _, err = cli(
        "record", "--product", "api", "--version", "1.0.0", "--env", "production",
        "--status", "started", "--no-detect", "--override-gates",
    )  # fmt: skip
    assert code == 2 and "[override_reason]" in err and "--reason" in err
    code, out, err = cli(
        "record", "--product", "api", "--version", "1.0.0", "--env", "production",
        "--status", "started", "--no-detect", "--override-gates", "--reason", "hotfix", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["metadata"]["gate_override"]["reason"] == "hotfix"
    code, out, _ = cli("gates", "set-mode", "freeze-now", "disabled")
    code, out, _ = cli(
        "gates", "check", "--product", "api", "--version", "1.0.0", "--env", "staging"
    )
    assert code == 0 and out.endswith("ok: api 1.0.0 may deploy to staging now\n")


def test_approve_and_check(cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    def as_user(name: str) -> None:  # the local identity is the login name (no CI here)
        monkeypatch.setenv("LOGNAME", name)

    cli(
        "record",
        "--product",
        "api",
        "--version",
        "2.0.0",
        "--env",
        "staging",
        "--status",
        "completed",
        "--no-detect",
    )
    cli(
        "gates",
        "add",
        "--name",
        "two",
        "--kind",
        "approval",
        "--required",
        "2",
        "--env",
        "production",
    )
    args = ("--product", "api", "--version", "2.0.0", "--env", "production")
    as_user("bob")
    code, out, err = cli("approve", *args, "--comment", "looks good")
    assert (code, out, err) == (0, "approved api 2.0.0 for production as bob\n", "")
    as_user("BOB")
    code, out, _ = cli("approve", *args)
    assert code == 0 and out.startswith("bob had already approved api 2.0.0 for production at ")
    code, out, err = cli("gates", "check", *args, "--deployer", "carol")
    assert code == 3
    assert "(APPROVAL_REQUIRED)" in err and "no retry time" in err
    as_user("carol")
    code, out, _ = cli("approve", *args, "--json")
    assert json.loads(out)["approver"] == "carol"
    code, out, err = cli("gates", "check", *args)  # the deployer: carol, who runs it
    assert code == 3 and "own approval does not count" in err
    code, out, _ = cli("gates", "check", *args, "--deployer", "dave", "--json")
    result = json.loads(out)
    assert code == 0 and result["allowed"] is True
    assert result["results"][0]["details"] == {}
    code, _, err = cli("approve", "--product", "api", "--version", "9.9.9", "--env", "production")
    assert code == 1 and "[version]" in err


def test_approve_and_record_agree_on_the_local_identity(
    cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Locally the identity is the CI actor, else the login name, for both commands:
    an approval by the person who then deploys does not count, whatever --deployed-by says."""
    base = ("--product", "api", "--version", "3.0.0")
    assert cli("record", *base, "--env", "staging", "--status", "completed", "--no-detect")[0] == 0
    cli("gates", "add", "--name", "sign", "--kind", "approval", "--env", "production")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_ACTOR", "carol")
    monkeypatch.setenv("LOGNAME", "runner")
    code, out, _ = cli("approve", *base, "--env", "production")
    assert (code, out) == (0, "approved api 3.0.0 for production as carol\n")
    start = ("record", *base, "--env", "production", "--status", "started", "--no-detect")
    code, _, err = cli(*start, "--deployed-by", "bob")
    assert code == 3 and "own approval does not count" in err and "'carol'" in err
    monkeypatch.setenv("GITHUB_ACTOR", "dave")  # another person's job deploys it
    code, out, err = cli(*start, "--deployed-by", "bob", "--json")
    assert code == 0, err
    assert json.loads(out)["deployed_by"] == "bob"  # the label is kept as given


def test_unlock(cli: Run) -> None:
    cli("gates", "add", "--name", "one", "--kind", "concurrency")
    base = (
        "record",
        "--product",
        "api",
        "--version",
        "1.0.0",
        "--env",
        "production",
        "--no-detect",
    )
    code, out, _ = cli(*base, "--status", "started", "--ci-run-id", "1")
    stuck = out.split()[0]
    code, out, err = cli(*base, "--status", "started", "--ci-run-id", "2")
    assert code == 3
    assert "(DEPLOYMENT_IN_PROGRESS)" in err and "an admin can also unlock it" in err
    assert re.search(r"retry after \S+ \(in (59m|1h)\)$", err.strip())
    code, _, err = cli("unlock", "--product", "api", "--env", "staging", "--reason", "x")
    assert code == 1 and "[environment]" in err
    code, _, err = cli("unlock", "--id", stuck, "--env", "staging", "--reason", "x")
    assert code == 2 and "[environment]" in err
    code, out, err = cli(
        "unlock", "--product", "api", "--env", "production", "--reason", "runner died"
    )
    assert (code, err) == (0, "")
    assert out == f"{stuck} api 1.0.0 production aborted (unlocked)\n"
    code, out, _ = cli("show", stuck, "--json")
    assert [e["type"] for e in json.loads(out)["events"]][-1] == "gate.unlocked"
    assert cli(*base, "--status", "started", "--ci-run-id", "2")[0] == 0


def test_config_rules_are_read_only(cli: Run) -> None:
    Path("shipmate.toml").write_text(
        '[[gates]]\nname = "one"\nkind = "concurrency"\nlease = "20m"\n', encoding="utf-8"
    )
    code, out, _ = cli("gates", "list", "--json")
    [rule] = json.loads(out)["items"]
    assert (rule["name"], rule["source"], rule["lease_seconds"]) == ("one", "config", 1200)
    code, out, err = cli("gates", "remove", "one")
    assert code == 1 and "read-only" in err and "shipmate.toml" in err
    code, _, err = cli("gates", "add", "--name", "ONE", "--kind", "concurrency")
    assert code == 1 and "already exists" in err
    Path("shipmate.toml").write_text(
        '[[gates]]\nname = "bad"\nkind = "freeze"\ncron = "x"\nduration = "1h"\n', encoding="utf-8"
    )
    code, _, err = cli("gates", "list")
    assert code == 2 and "[gates[0].cron]" in err


def test_explain_refusal_and_relative() -> None:
    now = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert relative(now + timedelta(hours=2, minutes=5, seconds=9), now) == "in 2h 5m"
    assert relative(now + timedelta(seconds=42), now) == "in 42s"
    assert relative(now + timedelta(days=3, hours=1), now) == "in 3d 1h"
    assert relative(now - timedelta(seconds=1), now) == "now"
    exc = GateBlockedError(
        "gate 'soak': api 1 completed in staging at X, but must soak. "
        "Retry after 2026-11-22T12:00:00.000Z",
        gate_code="INSUFFICIENT_SOAK_TIME",
        rule_name="soak",
        retry_after="2026-11-22T12:00:00.000Z",
    )
    explained = explain_refusal(exc, now)
    assert explained.message == (
        "deployment blocked by gate rule 'soak' (INSUFFICIENT_SOAK_TIME): api 1 completed in "
        "staging at X, but must soak; retry after 2026-11-22T12:00:00.000Z (in 2h)"
    )
    assert explained.exit_code == 3 and explained.details == exc.details


# ------------------------------------------------------------------ remote


@pytest.fixture
def server(ctx: Context, tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(ctx.settings.database_url, log_path=tmp_path / "server.log") as s:
        yield s


@pytest.fixture
def remote(
    server: ServerProcess,
    ctx: Context,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., tuple[int, str, str]]:
    tokens = {scope: create_key(ctx, f"{scope}-key", scope).token for scope in ("write", "admin")}
    monkeypatch.setenv("SHIPMATE_URL", server.base_url)
    monkeypatch.setenv("SHIPMATE_RETRY_SECONDS", "2")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)

    def run(*argv: str, as_: str = "admin") -> tuple[int, str, str]:
        monkeypatch.setenv("SHIPMATE_TOKEN", tokens[as_])
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_remote_gates_match_local(remote: Callable[..., tuple[int, str, str]]) -> None:
    end = freeze_now(remote)
    code, out, _ = remote("gates", "add", "--name", "one", "--kind", "concurrency", as_="write")
    assert code == 1 and out == ""  # rule writes need an admin key
    record = ("record", "--product", "api", "--version", "1.0.0", "--no-detect")
    code, out, err = remote(*record, "--env", "production", "--status", "started", as_="write")
    assert (code, out) == (3, "")
    assert_freeze_refusal(err, end)
    code, out, err = remote(
        "gates", "check", "--product", "api", "--version", "1.0.0", "--env", "production"
    )
    assert code == 3 and RETRY.search(err.strip()) is not None
    # Overrides: only with an admin key.
    start = ("--env", "production", "--status", "started", "--ci-run-id", "1")
    override = (*record, *start, "--override-gates")
    code, _, err = remote(*override, "--reason", "hotfix", as_="write")
    assert code == 1 and "[scope]" in err
    code, _, err = remote(*override)
    assert code == 2 and "[override_reason]" in err
    code, out, err = remote(*override, "--reason", "hotfix", "--json")
    assert code == 0, err
    dep = json.loads(out)
    assert dep["metadata"]["gate_override"]["key_name"] == "admin-key"
    # Concurrency and unlock.
    assert remote("gates", "set-mode", "freeze-now", "disabled")[0] == 0
    assert remote("gates", "add", "--name", "one", "--kind", "concurrency")[0] == 0
    code, _, err = remote(
        *record, "--env", "production", "--status", "started", "--ci-run-id", "2", as_="write"
    )
    assert code == 3 and "(DEPLOYMENT_IN_PROGRESS)" in err
    code, _, err = remote(
        "unlock", "--product", "api", "--env", "production", "--reason", "x", as_="write"
    )
    assert code == 1 and "[scope]" in err
    code, _, err = remote("unlock", "--id", dep["id"], "--env", "staging", "--reason", "x")
    assert code == 2 and "[environment]" in err
    code, out, err = remote(
        "unlock", "--product", "api", "--env", "production", "--reason", "stuck"
    )
    assert (code, out, err) == (0, f"{dep['id']} api 1.0.0 production aborted (unlocked)\n", "")
    code, _, err = remote("unlock", "--product", "api", "--env", "production", "--reason", "again")
    assert code == 1 and "nothing to unlock" in err
    assert remote(*record, "--env", "production", "--status", "started", "--ci-run-id", "2")[0] == 0
    # Approvals: by the key's name, and the deploying key's own does not count.
    remote("gates", "add", "--name", "sign", "--kind", "approval", "--env", "qa")
    code, out, _ = remote(
        "approve", "--product", "api", "--version", "1.0.0", "--env", "qa", as_="write"
    )
    assert (code, out) == (0, "approved api 1.0.0 for qa as write-key\n")
    qa = (*record, "--env", "qa", "--status", "started", "--deployed-by", "bob")
    code, _, err = remote(*qa, as_="write")
    assert code == 3 and "'write-key' deploys it" in err
    code, out, _ = remote(
        "gates",
        "check",
        "--product",
        "api",
        "--version",
        "1.0.0",
        "--env",
        "qa",
        "--deployer",
        "bob",
        "--json",
    )
    assert code == 0 and json.loads(out)["allowed"] is True
    code, out, _ = remote("gates", "list", "--json")
    assert [(r["name"], r["mode"]) for r in json.loads(out)["items"]] == [
        ("freeze-now", "disabled"),
        ("one", "enabled"),
        ("sign", "enabled"),
    ]
    code, out, _ = remote("gates", "remove", "sign")
    assert (code, out) == (0, "removed gate rule 'sign' (approval, enabled)\n")
