"""The demo's roll-forward through three versions with migrations."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from shipmate.demo.rolling import run_rolling_demo


def test_demo_rolls_a_fresh_environment_forward_then_is_idempotent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_rolling_demo(tmp_path)
    out = capsys.readouterr().out
    steps = [re.sub(r"\d+ ms$", "N ms", line.strip()) for line in out.splitlines() if " … " in line]
    assert steps == [
        "[1/3] 1.0.0 up: versions/1.0.0/up/010-accounts.sql … ok N ms",
        "[1/3] 1.0.0 up: versions/1.0.0/up/020-report.sh … ok N ms",
        "[2/3] 1.1.0 up: versions/1.1.0/up/010-entries.sql … ok N ms",
        "[2/3] 1.1.0 up: versions/1.1.0/up/020-report.sh … ok N ms",
        "[3/3] 1.2.0 up: versions/1.2.0/up/010-memo.sql … ok N ms",
        "[3/3] 1.2.0 up: versions/1.2.0/up/020-warm-cache.sh … ok N ms",
    ]
    assert "(1.0.0 said: 1.0.0 up: first=1 last=0 rollforward=1)" in out
    assert "(1.2.0 said: warming caches for 1.2.0 (the last version only))" in out
    assert "ledger is on 1.2.0 in staging (rollforward); schema position 1.2.0" in out
    with sqlite3.connect(tmp_path / "ledger" / "ledger-app.db") as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(entries)")]
    assert columns == ["id", "account_id", "cents", "memo"]

    run_rolling_demo(tmp_path)
    again = capsys.readouterr().out
    assert "nothing to run" in again
    assert " … " not in again
