"""``shipmate products`` and ``shipmate envs``, near misses and ``--create``, locally and
in remote mode."""

from __future__ import annotations

import json

from tests.cli.test_remote import remote, server  # noqa: F401  (fixtures)

RECORD = ("record", "--status", "completed", "--version", "1.0.0", "--no-detect")


def test_a_near_miss_is_refused_with_exit_2_and_create_lets_it_through(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli(*RECORD, "--product", "api", "--env", "production")[0] == 0
    code, out, err = cli(*RECORD, "--product", "api", "--env", "prodution")
    assert code == 2 and out == ""
    assert "[environment]: unknown environment 'prodution'; did you mean 'production'?" in err
    code, _, err = cli("version", "next", "--product", "API", "--version", "1.0.0", "--no-file")
    assert code == 2 and "did you mean 'api'" in err
    # The permission is this command's only: the next one checks again.
    assert cli(*RECORD, "--product", "api", "--env", "prodution", "--create")[0] == 0
    assert cli(*RECORD, "--product", "API", "--env", "production")[0] == 2
    assert cli(*RECORD, "--product", "billing", "--env", "production")[0] == 0


def test_merge_rename_and_archive_from_the_cli(cli) -> None:  # type: ignore[no-untyped-def]
    cli(*RECORD, "--product", "api", "--env", "production")
    cli(*RECORD, "--product", "api", "--env", "prodution", "--create")
    code, out, _ = cli("envs", "merge", "prodution", "production")
    assert (code, out) == (0, "merged environment 'prodution' into 'production'\n")
    code, out, _ = cli("envs", "merge", "prodution", "production")
    assert (code, out) == (
        0,
        "merged environment 'prodution' into 'production' already: nothing changed\n",
    )
    code, out, _ = cli("products", "rename", "api", "svc", "--json")
    assert code == 0 and json.loads(out)["changed"] is True
    code, out, _ = cli("history", "--product", "svc", "--json")
    assert len(json.loads(out)["items"]) == 2
    assert cli("products", "archive", "svc")[0] == 0
    code, out, _ = cli("current", "--json")
    assert json.loads(out)["cells"] == []
    code, _, err = cli(*RECORD, "--product", "svc", "--env", "production")
    assert code == 1 and "unarchive" in err
    code, out, _ = cli("products", "list", "--json")
    assert [(p["name"], p["archived_at"] is not None) for p in json.loads(out)["items"]] == [
        ("svc", True)
    ]
    code, _, err = cli("products", "rename", "nothing", "x")
    assert code == 1 and "does not exist" in err


def test_remote_mode_renames_and_refuses_near_misses(remote) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    assert remote(*RECORD, "--product", "api", "--env", "production")[0] == 0
    code, _, err = remote(*RECORD, "--product", "API", "--env", "production")
    assert code == 2 and "did you mean 'api'" in err
    assert remote(*RECORD, "--product", "API", "--env", "production", "--create")[0] == 0
    code, out, _ = remote("products", "merge", "API", "api")
    assert (code, out) == (0, "merged product 'API' into 'api'\n")
    code, out, _ = remote("products", "list", "--json")
    assert [p["name"] for p in json.loads(out)["items"]] == ["API", "api"]
    code, out, _ = remote("envs", "rename", "production", "prod")
    assert (code, out) == (0, "renamed environment 'production' to 'prod'\n")
    code, out, _ = remote("envs", "list")
    assert out == "prod (production)\n"
