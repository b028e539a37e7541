"""What the CLI tests share: ``cli(*argv)`` runs ``shipmate`` in-process on the test's
database, from an empty working folder, and returns the exit code, stdout and stderr."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipmate.cli import main


@pytest.fixture
def cli(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):  # type: ignore[no-untyped-def]
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("SHIPMATE_DATABASE_URL", database_url)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run
