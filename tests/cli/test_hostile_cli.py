"""The CLI's record refuses hostile metadata, times and build numbers with one line, exit 2."""

from __future__ import annotations

import pytest

RECORD = ["record", "--product", "api", "--env", "prod", "--status", "completed"]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (["--version", "1.0.0", "--metadata", '{"x": NaN}'], "metadata"),
        (["--version", "1.0.0", "--metadata", '{"x": [Infinity]}'], "metadata"),
        (["--version", "1.0.0", "--metadata", '{"a":' * 40 + "1" + "}" * 40], "metadata"),
        (["--version", "1.0.0", "--metadata", "[" * 20_000 + "]" * 20_000], "metadata"),
        (["--version", "1.0.0", "--metadata", '{"x": ' + "9" * 5000 + "}"], "metadata"),
        (["--version", "1.0.0", "--started-at", "9999-12-31T23:59:59-23:59"], "started_at"),
        (["--version", "1.0.0+build.9223372036854775808"], "version"),
        (["--version", "1.0.0", "--build", str(2**31)], "build"),
    ],
)
def test_record_refuses_hostile_values(cli, extra: list[str], field: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli(*RECORD, *extra)
    assert code == 2, (out, err)
    assert err.startswith(f"shipmate: error [{field}]: ") and len(err.splitlines()) == 1
    code, out, _ = cli("history", "--json")
    assert code == 0 and '"items": []' in out
