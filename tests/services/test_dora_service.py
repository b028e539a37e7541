"""DORA from recorded deployments, with known answers, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from shipmate.demo.clock import FakeClock
from shipmate.domain.requests import RecordRequest
from shipmate.errors import ConfigError, InvalidInputError, NotFoundError
from shipmate.services.catalog.listing import set_environment_kind
from shipmate.services.context import Context
from shipmate.services.dora import dora_report, gather_facts, resolve_period
from shipmate.services.records.deployments import record_deployment
from tests.services.test_changelog_service import GitRepo, deploy, with_repository

END = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
START = END - timedelta(days=30)
HOUR = 3600.0


def day(n: int, hour: int = 10, minute: int = 0) -> datetime:
    """Day ``n`` of the 30-day period (1-based), at hour:minute UTC."""
    return START + timedelta(days=n - 1, hours=hour, minutes=minute)


def failed(ctx: Context, clock: FakeClock, version: str, at: datetime, **metadata: Any) -> int:
    """Record a failed deployment of api in production, with the metadata a run records."""
    clock.set(at)
    return record_deployment(
        ctx,
        RecordRequest(
            product="api",
            environment="production",
            version=version,
            status="failed",
            started_at=at - timedelta(minutes=5),
            completed_at=at,
            metadata=metadata,
        ),
    ).id


def report(ctx: Context, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("since", START)
    kwargs.setdefault("until", END)
    return dora_report(ctx, **kwargs).to_dict()


def test_no_deployments_at_all(ctx: Context) -> None:
    body = report(ctx)
    assert body["environments"] == [] and body["streams"] == []
    assert body["deployment_frequency"]["deployments"] == 0
    assert body["deployment_frequency"]["band"] is None
    assert body["lead_time"]["median_seconds"] is None and body["lead_time"]["band"] is None
    assert body["change_failure_rate"]["rate"] is None
    assert body["recovery_time"]["median_seconds"] is None
    assert len(body["daily"]) == 30 and {d["deployments"] for d in body["daily"]} == {0}


def test_no_deployments_in_the_period(ctx: Context, clock: FakeClock) -> None:
    deploy(ctx, clock, version="1.0.0", commit="a" * 40, at=START - timedelta(days=3))
    body = report(ctx)
    assert body["environments"] == ["production"]
    assert body["counts"] == {
        "completed": 0,
        "rolled_back": 0,
        "failed": 0,
        "stopped_before_traffic": 0,
        "aborted": 0,
        "rollbacks": 0,
    }
    assert body["streams"] == []


def test_only_failures(ctx: Context, clock: FakeClock) -> None:
    for n in (2, 5, 9):
        failed(ctx, clock, f"1.0.{n}", day(n), failed_step="post_switch_health")
    for n in (3, 4):  # plain `record --status failed`: never went live
        deploy(ctx, clock, version=f"1.1.{n}", commit=None, at=day(n), status="failed")
    body = report(ctx)
    assert body["counts"]["failed"] == 3
    assert body["counts"]["stopped_before_traffic"] == 2
    assert body["deployment_frequency"]["deployments"] == 0
    assert body["deployment_frequency"]["band"] is None
    assert body["change_failure_rate"]["rate"] == 1.0
    assert body["change_failure_rate"]["band"] == "low"
    assert body["recovery_time"]["recovered"] == 0
    assert body["recovery_time"]["unrecovered"] == 3
    assert body["recovery_time"]["median_seconds"] is None
    assert body["lead_time"]["samples"] == 0


def rollback_chain(ctx: Context, clock: FakeClock) -> dict[str, int]:
    """api in production: a good deploy, a bad one rolled back, a failure, a fix; and web's
    deploy that failed before it went live."""
    ids: dict[str, int] = {}
    ids["d1"] = deploy(
        ctx, clock, version="1.0.0", commit="a1" * 20, at=day(1), commit_time=day(1, 8)
    )
    ids["d2"] = deploy(ctx, clock, version="1.1.0", commit="b2" * 20, at=day(3), commit_time=day(2))
    ids["d3"] = deploy(
        ctx,
        clock,
        version="1.0.0",
        commit="a1" * 20,
        at=day(3, 10, 30),
        kind="rollback",
        reverts_id=ids["d2"],
    )
    # its run failed the check after the switch: it had served traffic
    ids["d4"] = failed(ctx, clock, "1.1.1", day(4), failed_step="post_switch_health")
    ids["d5"] = deploy(
        ctx, clock, version="1.1.1", commit="c3" * 20, at=day(4, 12), commit_time=day(4, 9)
    )
    # noise the default report must leave out: staging, and another product's stream
    deploy(ctx, clock, version="2.0.0", commit=None, at=day(2), environment="staging")
    deploy(ctx, clock, version="9.0.0", commit=None, at=day(5), product="web", status="failed")
    return ids


def test_rollback_chain_known_answers(ctx: Context, clock: FakeClock) -> None:
    rollback_chain(ctx, clock)
    body = report(ctx, product="api")
    assert body["environments"] == ["production"]
    assert body["counts"] == {
        "completed": 3,  # d1, d3, d5
        "rolled_back": 1,  # d2, marked by the rollback d3
        "failed": 1,  # d4
        "stopped_before_traffic": 0,
        "aborted": 0,
        "rollbacks": 1,
    }
    freq = body["deployment_frequency"]
    assert freq["deployments"] == 4 and freq["deployment_days"] == 3
    assert freq["per_day"] == pytest.approx(4 / 30)
    # lead time: d1 2h, d2 24h, d5 3h (the rollback ships nothing new)
    lead = body["lead_time"]
    assert lead["samples"] == 3
    assert lead["median_seconds"] == 3 * HOUR and lead["p90_seconds"] == 24 * HOUR
    assert lead["band"] == "elite"
    # failures: d2 (rolled back) and d4 (failed after the switch) of the 5 that went live
    cfr = body["change_failure_rate"]
    assert (cfr["failures"], cfr["went_live"], cfr["rate"]) == (2, 5, 0.4)
    assert cfr["band"] == "low"
    # recovery: d2 -> d3 (and its mark) 30 min, d4 -> d5 2 h
    rec = body["recovery_time"]
    assert rec["recovered"] == 2 and rec["unrecovered"] == 0
    assert rec["median_seconds"] == 1800 and rec["p90_seconds"] == 2 * HOUR
    assert rec["band"] == "elite"
    assert body["lead_time_sources"] == {
        "repository": 0,
        "recorded_commit_time": 3,
        "unchanged": 0,
        "unknown": 0,
    }
    assert [s["stream"] for s in body["streams"]] == ["api@production"]


def test_every_production_environment_one_stream_each(ctx: Context, clock: FakeClock) -> None:
    rollback_chain(ctx, clock)
    set_environment_kind(ctx, "live-eu", "production")
    deploy(ctx, clock, version="1.1.1", commit="c3" * 20, at=day(6), environment="live-eu")
    body = report(ctx)
    assert body["environments"] == ["live-eu", "production"]
    assert [s["stream"] for s in body["streams"]] == [
        "api@live-eu",
        "api@production",
        "web@production",
    ]
    # web's failure never went live: counted apart, neither a failure nor unrecovered
    assert body["recovery_time"]["unrecovered"] == 0
    assert body["counts"]["failed"] == 1
    assert body["counts"]["stopped_before_traffic"] == 1
    web = next(s for s in body["streams"] if s["product"] == "web")
    assert web["change_failure_rate"]["rate"] is None
    assert web["change_failure_rate"]["stopped_before_traffic"] == 1
    only_staging = report(ctx, environment="staging")
    assert only_staging["deployment_frequency"]["deployments"] == 1
    assert only_staging["lead_time"]["samples"] == 0  # no commit time recorded
    assert only_staging["lead_time_sources"]["unknown"] == 1


def test_lead_time_from_the_repository(ctx: Context, clock: FakeClock, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "checkout")
    t0 = START + timedelta(days=1)
    c1 = repo.commit("feat: one", t0)
    repo.commit("fix: two", t0 + timedelta(hours=1))  # c2
    c3 = repo.commit("feat: three", t0 + timedelta(hours=2))
    c4 = repo.commit("docs: four", t0 + timedelta(hours=3))
    # before the period: what production runs when it starts
    deploy(ctx, clock, version="1.0.0", commit=c1, at=START - timedelta(days=1))
    deploy(ctx, clock, version="1.1.0", commit=c3, at=t0 + timedelta(hours=5))  # c2 4h, c3 3h
    deploy(ctx, clock, version="1.1.0", commit=c3, at=t0 + timedelta(hours=6))  # same commit
    deploy(ctx, clock, version="1.2.0", commit=c4, at=t0 + timedelta(hours=5, minutes=180))
    unknown_sha = "e" * 40  # git does not know it: the recorded time is used
    deploy(
        ctx,
        clock,
        version="1.3.0",
        commit=unknown_sha,
        at=t0 + timedelta(hours=10),
        commit_time=t0 + timedelta(hours=9),
    )
    local = with_repository(ctx, "api", repo.path)
    body = report(local, product="api")
    lead = body["lead_time"]
    # samples: 4h, 3h (1.1.0), 5h (1.2.0: c4 at +3h, shipped at +8h), 1h (1.3.0)
    assert lead["samples"] == 4
    assert lead["median_seconds"] == 3 * HOUR and lead["p90_seconds"] == 5 * HOUR
    assert body["lead_time_sources"] == {
        "repository": 2,
        "recorded_commit_time": 1,
        "unchanged": 1,
        "unknown": 0,
    }
    assert body["repositories"] == {"api": str(repo.path.resolve())}
    # the same through the repo argument
    assert report(ctx, product="api", repo=str(repo.path))["lead_time"] == lead
    # without a repository only recorded commit times count (1.3.0 alone)
    assert report(ctx, product="api")["lead_time"]["samples"] == 1


def test_first_deployment_counts_only_its_own_commit(
    ctx: Context, clock: FakeClock, tmp_path: Path
) -> None:
    repo = GitRepo(tmp_path / "checkout")
    repo.commit("chore: old history", START - timedelta(days=400))
    head = repo.commit("feat: launch", day(1, 6))
    deploy(ctx, clock, version="1.0.0", commit=head, at=day(1, 8))
    body = report(with_repository(ctx, "api", repo.path), product="api")
    assert body["lead_time"]["samples"] == 1
    assert body["lead_time"]["median_seconds"] == 2 * HOUR


def test_query_count_does_not_grow_with_deployments(ctx: Context, clock: FakeClock) -> None:
    def count(n: int) -> int:
        for i in range(n):
            deploy(ctx, clock, version=f"3.{n}.{i}", commit=None, at=day(1 + i % 20, 1 + i % 9))
        statements: list[str] = []

        def seen(*args: Any) -> None:
            statements.append(str(args[2]))

        event.listen(ctx.engine, "before_cursor_execute", seen)
        try:
            gather_facts(ctx, period_start=START, period_end=END, product="api")
        finally:
            event.remove(ctx.engine, "before_cursor_execute", seen)
        return sum(1 for s in statements if "deployments" in s)

    assert count(3) == count(30) == 2


def test_bad_input(ctx: Context, clock: FakeClock, tmp_path: Path) -> None:
    rollback_chain(ctx, clock)
    with pytest.raises(NotFoundError) as err:
        report(ctx, product="nope")
    assert err.value.field == "product"
    with pytest.raises(NotFoundError) as err:
        report(ctx, environment="mars")
    assert err.value.field == "environment"
    with pytest.raises(InvalidInputError) as bad:
        dora_report(ctx, days=0)
    assert bad.value.field == "days"
    with pytest.raises(InvalidInputError) as bad:
        dora_report(ctx, days=7, since=START)
    assert bad.value.field == "days"
    with pytest.raises(InvalidInputError) as bad:
        dora_report(ctx, since=END, until=START)
    assert bad.value.field == "since"
    with pytest.raises(ConfigError) as cfg:
        report(with_repository(ctx, "api", tmp_path / "absent"), product="api")
    assert cfg.value.field == "products.api.repository"


def test_period_defaults(clock: FakeClock) -> None:
    now = clock()
    assert resolve_period(now) == (now - timedelta(days=90), now)
    assert resolve_period(now, days=7) == (now - timedelta(days=7), now)
    assert resolve_period(now, since=START, until=END) == (START, END)


@pytest.fixture(autouse=True)
def _quiet(clock: FakeClock) -> Iterator[None]:
    clock.set(END)
    yield


def test_open_deployments_are_ignored(ctx: Context, clock: FakeClock) -> None:
    clock.set(day(2))
    record_deployment(
        ctx,
        RecordRequest(product="api", environment="production", version="1.0.0", status="started"),
    )
    assert report(ctx)["counts"]["completed"] == 0


def test_metrics_doc_states_the_band_thresholds() -> None:
    """docs/metrics.md's band table says what shipmate.domain.dora computes."""
    from shipmate.domain import dora as rules

    doc = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()
    table = doc.split("<!-- test_docs: dora-bands -->", 1)[1].strip().splitlines()
    rows = {
        cells[0]: cells[1:]
        for line in table
        if line.startswith("|") and not line.startswith("|---")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }

    def duration(seconds: float) -> str:
        for size, unit in ((86_400 * 7, "week"), (86_400, "day"), (3_600, "hour")):
            if seconds % size == 0:
                n = int(seconds // size)
                return f"{n} {unit}" + ("" if n == 1 else "s")
        raise AssertionError(seconds)

    for band, bound in rules.LEAD_TIME_BANDS:
        assert rows[band.value][1] == f"< {duration(bound)}"
    for band, bound in rules.RECOVERY_BANDS:
        assert rows[band.value][3] == f"< {duration(bound)}"
    for band, percent in rules.CFR_BANDS:
        assert rows[band.value][2] == f"≤ {percent} %"
    assert rows["elite"][0].endswith(f"per week ≥ {rules.FREQUENCY_ELITE_DAYS_PER_WEEK}")
    assert rows["high"][0].endswith(f"per week ≥ {rules.FREQUENCY_HIGH_DAYS_PER_WEEK}")
    assert rows["medium"][0].endswith(f"per 30 days ≥ {rules.FREQUENCY_MEDIUM_DAYS_PER_MONTH}")
    assert rows["low"][1:] == ["≥ 30 days", "> 15 %", "≥ 1 week"]
