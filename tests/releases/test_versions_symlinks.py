"""``release sync`` reads only files inside the versions folder: a symlink that leaves it
refuses the whole sync, before anything is written; symlinks within it are fine."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipmate.cli import main
from shipmate.errors import InvalidInputError, NotFoundError
from shipmate.services.context import Context
from shipmate.services.releases.actions import list_actions
from shipmate.services.releases.folder import read_versions_dir


def folder(root: Path) -> Path:
    versions = root / "versions"
    for v in ("1.0.0", "2.0.0"):
        (versions / v / "up").mkdir(parents=True)
        (versions / v / "up" / "010-warm.sh").write_text(f"echo {v}\n")
    return versions


def outside(root: Path) -> Path:
    secret = root / "elsewhere"
    (secret / "up").mkdir(parents=True)
    (secret / "up" / "010-x.sh").write_text("cat /etc/shadow\n")
    (secret / "secret.sh").write_text("the secret\n")
    return secret


@pytest.mark.parametrize(
    ("link", "target", "named"),
    [
        ("2.0.0/up/020-evil.sh", "secret.sh", "versions/2.0.0/up/020-evil.sh"),
        ("3.0.0", ".", "versions/3.0.0"),  # a whole version folder
        ("2.0.0/down", "up", "versions/2.0.0/down"),
        ("2.0.0/release.toml", "secret.sh", "versions/2.0.0/release.toml"),
    ],
)
def test_a_symlink_leaving_the_folder_is_refused(
    tmp_path: Path, link: str, target: str, named: str
) -> None:
    versions = folder(tmp_path)
    (versions / link).symlink_to(outside(tmp_path) / target)
    with pytest.raises(InvalidInputError) as err:
        read_versions_dir(versions)
    assert err.value.field == "dir"
    assert named in err.value.message and "outside the versions folder" in err.value.message


def test_a_relative_symlink_climbing_out_is_refused(tmp_path: Path) -> None:
    versions = folder(tmp_path)
    outside(tmp_path)
    (versions / "2.0.0" / "up" / "020-evil.sh").symlink_to(Path("../../../elsewhere/secret.sh"))
    with pytest.raises(InvalidInputError) as err:
        read_versions_dir(versions)
    assert "versions/2.0.0/up/020-evil.sh" in err.value.message


def test_symlinks_inside_the_folder_are_read(tmp_path: Path) -> None:
    versions = folder(tmp_path)
    (versions / "2.0.0" / "up" / "020-again.sh").symlink_to(Path("../../1.0.0/up/010-warm.sh"))
    declared, _ = read_versions_dir(versions)
    bodies = [a.body for d in declared for a in d.actions if d.version == "2.0.0"]
    assert bodies == ["echo 2.0.0\n", "echo 1.0.0\n"]


def test_the_folder_itself_may_be_a_symlink(tmp_path: Path) -> None:
    versions = folder(tmp_path / "real")
    (tmp_path / "linked").symlink_to(versions)
    declared, _ = read_versions_dir(tmp_path / "linked")
    assert [d.version for d in declared] == ["1.0.0", "2.0.0"]


def test_the_cli_writes_nothing_when_refused(
    ctx: Context,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    versions = folder(tmp_path)
    (versions / "2.0.0" / "up" / "020-evil.sh").symlink_to(outside(tmp_path) / "secret.sh")
    monkeypatch.setenv("SHIPMATE_DATABASE_URL", ctx.settings.database_url)
    code = main(["release", "sync", "--product", "api", "--dir", str(versions)])
    err = capsys.readouterr().err
    assert code == 2 and "[dir]" in err and "020-evil.sh" in err
    with pytest.raises(NotFoundError):  # not even the product was made
        list_actions(ctx, "api")
