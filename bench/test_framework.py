"""Tests of the benchmark framework (not of speed: nothing here asserts a timing).

Run with ``.venv/bin/python -m pytest bench/test_framework.py -q``.  The last tests
run the real benchmarks in quick mode on SQLite and check that they produce their
rows and that their correctness checks pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import report
from bench.databases import Databases
from bench.registry import Benchmark, BenchRun, Check, Result, Target, discover, registered
from bench.run import UsageError, main, merge, parse_backends, run_section, select
from bench.stats import median, percentile, rate


def test_percentiles_interpolate_between_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert median(values) == 25.0
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile(values, 90) == pytest.approx(37.0)
    assert median([3.0, 1.0, 2.0]) == 2.0


def test_percentile_and_rate_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        percentile([1.0], 101)
    with pytest.raises(ValueError, match="rate over 0"):
        rate(10, 0)
    assert rate(10, 2.0) == 5.0


def test_targets_bound_the_ratio_or_the_value() -> None:
    at_least_half = Target("ratio_min", 0.5)
    assert at_least_half.met(100, 0.5) is True
    assert at_least_half.met(100, 0.49) is False
    assert at_least_half.met(100, None) is None
    assert Target("ratio_max", 4).met(1, 4.1) is False
    assert Target("value_max", 5).met(4.9, None) is True
    assert Target("value_max", 5).describe("ms") == "≤ 5 ms"
    assert at_least_half.describe("ops/s") == "ratio ≥ 0.5"


def test_result_derives_ratio_and_verdict_and_round_trips_through_json() -> None:
    result = Result(
        figure="1 process · allocations/s",
        backend="sqlite",
        value=300.0,
        unit="ops/s",
        baseline=1000.0,
        baseline_name="raw SQL",
        targets=(Target("ratio_min", 0.5),),
        samples=(290.0, 300.0, 310.0),
        checks=(Check("numbers 1..N", True),),
    )
    assert result.ratio == pytest.approx(0.3)
    assert result.met is False
    again = Result.from_json(json.loads(json.dumps(result.to_json())))
    assert again == result
    assert Result("x", 1.0, "ms").met is None
    assert Result("x", 1.0, "ms", baseline=0.0).ratio is None


def test_parse_backends_accepts_aliases_and_names_the_option_on_error() -> None:
    assert parse_backends("postgresql, sqlite") == ["sqlite", "postgres"]
    assert parse_backends("pg") == ["postgres"]
    with pytest.raises(UsageError, match="--backends: unknown backend 'mysql'"):
        parse_backends("sqlite,mysql")
    with pytest.raises(UsageError, match="--backends: name at least one"):
        parse_backends(" , ")


def test_discover_registers_the_three_issue_2_benchmarks_in_order() -> None:
    discover()
    names = [b.name for b in registered()]
    assert names[:3] == ["builds", "records", "cli"]
    assert select(registered(), "cli,builds") == [registered()[0], registered()[2]]
    with pytest.raises(UsageError, match="--only: unknown benchmark nope"):
        select(registered(), "builds,nope")


def test_main_refuses_unknown_names_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--only", "nope", "--results", "/nonexistent/x.json"]) == 2
    assert "--only: unknown benchmark nope" in capsys.readouterr().err
    assert main(["--backends", "oracle"]) == 2


def _fake(run: BenchRun) -> list[Result]:
    run.param("rounds", 3)
    if run.backend == "postgres":
        raise RuntimeError("boom")
    return [
        Result(
            "rate",
            200.0,
            "ops/s",
            baseline=100.0,
            baseline_name="raw SQL",
            backend=run.backend,
            targets=(Target("ratio_min", 0.5),),
            checks=(Check("gapless", run.backend == "sqlite"),),
        )
    ]


def test_run_section_collects_rows_errors_and_renders(tmp_path: Path) -> None:
    bench = Benchmark("fake", "Fake section", "Method text.", _fake, True, 1)
    databases = Databases()
    try:
        section = run_section(bench, ["sqlite", "postgres"], databases, True, False)
    finally:
        databases.close()
    assert [r["backend"] for r in section["results"]] == ["sqlite"]
    assert section["results"][0]["ratio"] == 2.0
    assert section["results"][0]["met"] is True
    assert section["errors"] == [
        {"backend": "postgres", "error": "RuntimeError: boom", "fatal": True}
    ]
    assert section["params"] == {"rounds": "3"}
    old = {"sections": [{**section, "name": "older", "title": "Older"}, {**section}]}
    merged = merge(old, [section], ["fake"])
    assert [s["name"] for s in merged] == ["fake", "older"]
    document = {
        "format": report.FORMAT,
        "generated_at": "2026-11-22T10:00:00Z",
        "commit": "abc",
        "machine": {"cpu": "Test CPU", "cores": "2"},
        "sections": [section],
    }
    page = report.render(document)
    assert "| CPU | Test CPU |" in page
    assert "| SQLite · rate | 200 ops/s | 100 ops/s (raw SQL) | 2.00× | ratio ≥ 0.5 | yes |" in page
    assert "passed: gapless" in page
    assert "**Not measured**: PostgreSQL: RuntimeError: boom" in page
    assert "Method: Method text." in page
    path = tmp_path / "latest.json"
    report.save(document, path)
    assert report.load(path) == document


def test_databases_refuse_bad_names_and_reuse() -> None:
    databases = Databases()
    try:
        url = databases.fresh("sqlite", "one")
        assert url.startswith("sqlite:///") and url.endswith("/one.db")
        with pytest.raises(ValueError, match="already handed out"):
            databases.fresh("sqlite", "one")
        with pytest.raises(ValueError, match="must match"):
            databases.fresh("sqlite", "Bad Name")
        with pytest.raises(ValueError, match="unknown backend 'mysql'"):
            databases.fresh("mysql", "two")
    finally:
        databases.close()
    assert not databases.root.exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["builds", "records", "cli"])
def test_each_benchmark_runs_quick_on_sqlite_and_its_checks_pass(name: str) -> None:
    discover()
    (bench,) = [b for b in registered() if b.name == name]
    databases = Databases()
    try:
        section = run_section(bench, ["sqlite"], databases, True, False)
    finally:
        databases.close()
    assert section["errors"] == []
    results = [Result.from_json(r) for r in section["results"]]
    assert results, "a benchmark must return rows"
    assert all(r.value > 0 and r.baseline and r.baseline > 0 for r in results)
    checks = [c for r in results for c in r.checks]
    assert checks and all(c.passed for c in checks)
