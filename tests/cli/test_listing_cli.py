"""The printing commands: time windows, ``--all``, ``history --json``'s total, ``show``
by full version, ``current`` filters and its 80-column form, ``db current --json``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from shipmate.cli import matrix as view
from shipmate.cli import paging
from shipmate.domain.matrix import Matrix, MatrixCell


def _record(cli, product: str, env: str, version: str, **extra: str) -> str:  # type: ignore[no-untyped-def]
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in extra.items()]
    code, out, err = cli(
        "record", "--product", product, "--env", env, "--status", "completed",
        "--version", version, "--no-detect", *flags,
    )  # fmt: skip
    assert (code, err) == (0, ""), err
    return out.split()[0]


def test_history_since_takes_dates_times_and_durations(cli) -> None:  # type: ignore[no-untyped-def]
    old = (datetime.now(UTC) - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _record(cli, "api", "dev", "1.0.0", started_at=old, completed_at=old)
    _record(cli, "api", "dev", "1.1.0")
    for since, count in (("7d", 1), ("2w", 2), ("12h", 1), ("2000-01-01", 2), (old, 2)):
        code, out, err = cli("history", "--since", since, "--json")
        assert (code, err) == (0, ""), since
        assert json.loads(out)["count"] == count, since
    code, out, _ = cli("history", "--until", "7d", "--json")
    assert [d["version"] for d in json.loads(out)["items"]] == ["1.0.0"]
    code, _, err = cli("history", "--since", "last week")
    assert code == 2 and "[since]" in err and "7d, 12h, 30m, 2w" in err


def test_history_json_carries_the_total_and_all_follows_the_pages(  # type: ignore[no-untyped-def]
    cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        _record(cli, "api", "dev", f"1.{n}.0")
    _record(cli, "web", "dev", "2.0.0")
    code, out, _ = cli("history", "--product", "api", "--limit", "2", "--json")
    page = json.loads(out)
    assert (page["count"], page["total"]) == (2, 5) and page["next_cursor"]
    monkeypatch.setattr(paging, "PAGE_SIZE", 2)  # three requests for five rows
    code, out, _ = cli("history", "--product", "api", "--all", "--json")
    every = json.loads(out)
    assert (every["count"], every["total"], every["next_cursor"]) == (5, 5, None)
    assert [d["version"] for d in every["items"]] == [f"1.{n}.0" for n in range(4, -1, -1)]
    code, out, _ = cli("history", "--all")
    assert code == 0 and len(out.splitlines()) == 7 and "--cursor" not in out


def test_show_takes_a_full_version(cli) -> None:  # type: ignore[no-untyped-def]
    first = _record(cli, "api", "dev", "1.4.0+build.3")
    _record(cli, "api", "production", "1.4.0+build.3")
    code, out, err = cli("show", "1.4.0+build.3", "--env", "dev", "--json")
    assert (code, err) == (0, "") and json.loads(out)["id"] == first
    code, out, _ = cli("show", first)
    assert code == 0 and out.startswith(f"Deployment {first}: api 1.4.0+build.3 -> dev")
    code, _, err = cli("show", "1.4.0+build.3")
    assert code == 2 and "deployed more than once" in err and "--env" in err
    code, _, err = cli("show", "9.9.9+build.1")
    assert code == 1 and "no deployment of 9.9.9+build.1" in err


def test_current_filters_by_products_and_environments(cli) -> None:  # type: ignore[no-untyped-def]
    for product in ("api", "web", "worker"):
        for env in ("dev", "staging", "production"):
            _record(cli, product, env, "1.0.0")
    code, out, _ = cli("current", "--product", "api,web", "--env", "dev", "--env", "production")
    body = json.loads(cli("current", "--product", "api,web", "--env", "production", "--json")[1])
    assert body["products"] == ["api", "web"]
    assert [e["name"] for e in body["environments"]] == ["production"]
    assert {(c["product"], c["environment"]) for c in body["cells"]} == {
        ("api", "production"),
        ("web", "production"),
    }
    assert code == 0 and out.splitlines()[0].split() == ["PRODUCT", "dev", "production"]
    assert "worker" not in out and "staging" not in out
    code, _, err = cli("current", "--product", "api,ghost")
    assert code == 1 and "ghost" in err
    code, _, err = cli("current", "--env", "prodution")
    assert code == 1 and "prodution" in err


def test_db_current_json(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("db", "current")
    text = out.strip()
    code, out, err = cli("db", "current", "--json")
    assert (code, err) == (0, "") and json.loads(out) == {"revision": text}


def _wide_matrix(products: int, envs: int) -> Matrix:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    names = [f"environment-{e:02d}" for e in range(envs)]
    cells = tuple(
        MatrixCell(
            product=f"product-{p:03d}",
            environment=env,
            deployment_id=p * envs + e,
            version="1.4.0",
            full_version=f"1.4.{e}+build.{p}",
            status="completed",
            since=now,
            age_seconds=3600.0 * e,
            deployed_by=None,
            commit_sha=None,
            drift=e == 0,
        )
        for p in range(products)
        for e, env in enumerate(names)
    )
    return Matrix(
        products=tuple(f"product-{p:03d}" for p in range(products)),
        environments=tuple((n, "production") for n in names),
        cells=cells,
    )


def test_a_wide_matrix_fits_80_columns_as_one_line_per_pair(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    m = _wide_matrix(200, 12)
    text = view.render_to_fit(m)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].split() == ["PRODUCT", "ENV", "VERSION", "AGE"]
    assert lines[1].split() == ["product-000", "environment-00", "1.4.0+build.0*", "0s"]
    assert len([line for line in lines if line.startswith("product-")]) == 200 * 12
    assert lines[-1].startswith("* differs")
    # Wide enough, the same matrix is a table again.
    monkeypatch.setenv("COLUMNS", "1000")
    assert view.render_to_fit(m).splitlines()[0].split()[:2] == ["PRODUCT", "environment-00"]


def test_a_small_matrix_stays_a_table_in_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    text = view.render_to_fit(_wide_matrix(3, 3))
    assert text.splitlines()[0].split() == ["PRODUCT", "environment-00", "environment-01",
                                            "environment-02"]  # fmt: skip
