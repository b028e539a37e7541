"""The CLI's writes refuse names outside the charset; ``db check`` lists stored ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipmate.config import load_settings
from shipmate.domain.inputs import names
from shipmate.domain.requests import RecordRequest
from shipmate.services.context import open_context
from shipmate.services.records.deployments import record_deployment


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["record", "--product", "team/api", "--env", "e", "--version", "1.0.0"], "product"),
        (["record", "--product", "api", "--env", "e:1", "--version", "1.0.0"], "environment"),
        (["record", "--product", "api", "--env", "e", "--version", "1.0.0/../../x"], "version"),
        (["version", "next", "--product", "@scope/pkg", "--version", "1.0.0"], "product"),
        (["version", "next", "--product", "api", "--version", "1.0.0/../x"], "version"),
    ],
)
def test_writes_refuse_names_outside_the_charset(cli, argv: list[str], field: str) -> None:  # type: ignore[no-untyped-def]
    if argv[0] == "record":
        argv = [*argv, "--status", "completed"]
    code, out, err = cli(*argv)
    assert code == 2, (out, err)
    assert err.startswith(f"shipmate: error [{field}]: ")
    assert "letters, digits and . _ - +" in err
    code, out, _ = cli("history", "--json")
    assert '"items": []' in out


def test_release_sync_ignores_a_version_folder_outside_the_charset(cli) -> None:  # type: ignore[no-untyped-def]
    for name in ("1.0~rc1", "2026:1"):
        folder = Path("versions") / name / "up"
        folder.mkdir(parents=True)
        (folder / "010.sh").write_text("echo hi\n")
    code, out, err = cli("release", "sync", "--product", "api")
    assert code == 0
    assert "ignored: versions/1.0~rc1/" in err and "ignored: versions/2026:1/" in err
    assert "No versions in versions" in out


def test_db_check_lists_names_older_versions_stored(
    cli, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    assert cli("db", "upgrade")[0] == 0
    ctx = open_context(load_settings(overrides={"database_url": database_url}))
    try:
        with monkeypatch.context() as old:
            old.setattr(names, "_NAME", names._LEGACY)
            for product, env, version in (("team/api", "prod", "1.0.0"), ("api", "eu:1", "2.0~b")):
                record_deployment(
                    ctx,
                    RecordRequest(
                        product=product, environment=env, version=version, status="completed"
                    ),
                )
    finally:
        ctx.close()
    code, out, err = cli("db", "check")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "schema matches the models",
        "3 stored name(s) outside the name charset (letters, digits and . _ - +, starting with "
        "a letter or digit); they stay readable, but no write accepts them:",
        "  product 'team/api' contains '/', so it would be a path",
        "  environment 'eu:1' contains ':'",
        "  version '2.0~b' of product 'api' contains '~'",
    ]
    code, out, _ = cli("history", "--product", "team/api", "--json")
    assert code == 0 and '"version": "1.0.0"' in out
