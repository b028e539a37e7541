"""Values a write key stored never reach the terminal raw: history, show, current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import update

from shipmate.cli import main
from shipmate.store.engine import make_engine
from shipmate.store.schema import deployments

EVIL_ACTOR = "mallory\x1b[2J\r\x1b]8;;http://evil\x07ok\x1b]8;;\x07"
EVIL_METADATA = {"note": "fine\r\x1b[31mFAILED\x1b[0m\x07", "bidi": "abc\u202efed"}
RAW = ("\x1b", "\r", "\x07", "\u202e")


@pytest.fixture
def cli(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHIPMATE_DATABASE_URL", database_url)
    monkeypatch.setenv("NO_COLOR", "1")

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _clean(text: str) -> None:
    for char in RAW:
        assert char not in text, (char, text)


def test_history_show_and_current_escape_stored_controls(cli, database_url: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli(
        "record",
        "--product",
        "api",
        "--env",
        "prod",
        "--status",
        "completed",
        "--version",
        "1.0.0",
        "--no-detect",
        "--deployed-by",
        EVIL_ACTOR,
        "--metadata",
        json.dumps(EVIL_METADATA),
    )
    assert code == 0, err
    _clean(out)
    dep_id = out.split()[0]
    # What an older release stored before versions were restricted: a raw control
    # character in the version itself.
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            update(deployments).values(version="1.0.0\n\x1b[2J", full_version="1.0.0\n\x1b[2J\x9b")
        )
    engine.dispose()

    code, out, _ = cli("history")
    assert code == 0
    _clean(out)
    assert "\x9b" not in out
    lines = out.splitlines()
    assert len(lines) == 2  # the newline in the version made no extra line
    assert "mallory\\x1b[2J\\r\\x1b]8;;http://evil\\x07ok" in lines[1]
    assert "1.0.0\\n\\x1b[2J\\x9b" in lines[1]

    code, out, _ = cli("show", dep_id)
    assert code == 0
    _clean(out)
    assert "by mallory\\x1b[2J\\r" in out
    assert "fine\\r\\u001b[31mFAILED" in out and "abc\\u202efed" in out
    assert "api 1.0.0\\n\\x1b[2J\\x9b -> prod" in out

    code, out, _ = cli("current")
    assert code == 0
    _clean(out)
    assert len(out.splitlines()) == 2 and "1.0.0\\n\\x1b[2J" in out

    code, out, _ = cli("history", "--json")
    assert json.loads(out)["items"][0]["deployed_by"] == EVIL_ACTOR  # JSON keeps the value
