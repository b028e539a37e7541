"""At scale: the hot queries use indexes, and the generated history is a real one.

Both backends (the ``database_url`` fixture).  A history of 20,000 deployments is
bulk-loaded by ``bench.seed`` (``ANALYZE``, or ``VACUUM ANALYZE`` on PostgreSQL, at
the end), then each hot query (``bench.hotqueries``: filtered history
pages including a deep cursor page, the matrix, stats, DORA, one deployment) and
the reads of ``record_deployment`` are run through their services while a
``before_cursor_execute`` listener captures the SQL they really send, and every
captured query is explained (``bench.plans``):

* SQLite, ``EXPLAIN QUERY PLAN``: no step may ``SCAN`` ``deployments`` or
  ``events`` (a full table or full index walk); checked twice, with the
  statistics ``ANALYZE`` gathered and without any (a database nobody analyzed,
  which is what most SQLite files are).
* PostgreSQL, ``EXPLAIN (FORMAT JSON)`` with ``SET LOCAL enable_seqscan = off``
  (and hash and merge joins off): on tables this small the planner may rightly
  prefer to read a table whole, which it would not do at a million rows, so those
  strategies are forbidden for the check; a ``Seq Scan`` still chosen means no
  index can serve the query, and an index scan without an ``Index Cond`` (walking
  a whole index) fails too.

The main read of each query must also use one of the indexes named for it, so a
dropped index or a changed query shape is caught even where another index would
avoid a scan.  The second half checks that the generated rows are what the
services would have recorded: foreign keys, ``current_state`` as
``refresh_current_state`` computes it, events in time order, rollbacks, keyset
paging over a whole history, and recording on top of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from bench.hotqueries import HotQuery, Subjects, hot_queries, pick_subjects
from bench.plans import Plan, capture, explain_all
from bench.seed import SeedParams, SeedReport, generate, main, seed_database
from shipmate.config import Settings
from shipmate.demo.clock import FakeClock
from shipmate.domain.requests import HistoryFilter, RecordRequest
from shipmate.services.context import Context
from shipmate.services.queries import current_matrix, history, stats
from shipmate.services.records.deployments import record_deployment
from shipmate.store.deployments import refresh_current_state
from shipmate.store.engine import make_engine
from shipmate.store.schema import current_state, deployments, events, products

SIZE = 20_000
END = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

#: The indexes the main read of each query may use (any one of them).
EXPECTED = {
    "history · product + environment, first page": {"ix_deployments_product_env_at"},
    "history · product + environment, page": {"ix_deployments_product_env_at"},
    "history · status failed, last 30 days": {"ix_deployments_status_at"},
    "history · product + version": {
        "ix_deployments_product_version",
        "ix_deployments_version_at",
    },
    "history · version, every product": {"ix_deployments_version_at"},
    "current matrix · every product": {"pk_deployments", "INTEGER PRIMARY KEY"},
    "stats · one product": {"ix_deployments_product_status", "ix_deployments_product_version"},
    "stats · one product in one environment": {
        "ix_deployments_status",
        "ix_deployments_product_env_at",
        "ix_deployments_product_version",
    },
    "one deployment with its events": {"ix_events_deployment_id"},
    "DORA · one product, 90 days": {"ix_deployments_status", "ix_deployments_product_status"},
}


def _context(url: str) -> Context:
    return Context(
        settings=Settings(database_url=url),
        engine=make_engine(url),
        clock=FakeClock(END),
    )


@pytest.fixture
def seeded(database_url: str) -> Iterator[tuple[Context, SeedReport]]:
    report = seed_database(database_url, SeedParams(deployments=SIZE, end=END))
    ctx = _context(database_url)
    try:
        yield ctx, report
    finally:
        ctx.close()


def _expected(name: str) -> set[str]:
    matches = [prefix for prefix in EXPECTED if name.startswith(prefix)]
    assert matches, f"no expected indexes listed for {name!r}"
    return EXPECTED[max(matches, key=len)]


def _plans(ctx: Context, query: HotQuery) -> list[Plan]:
    with capture(ctx.engine) as seen:
        query.call(ctx)
    plans = explain_all(ctx.engine, seen)
    assert plans, f"{query.name}: no query was captured"
    return plans


def _problems(ctx: Context, s: Subjects) -> list[str]:
    found = []
    for query in hot_queries(s):
        plans = _plans(ctx, query)
        text_of = "\n".join(p.describe() for p in plans)
        for plan in plans:
            for problem in plan.problems:
                found.append(f"{query.name}: {problem}\n    {plan.describe()}")
        wanted = _expected(query.name)
        if not any(name in line for plan in plans for line in plan.lines for name in wanted):
            found.append(f"{query.name}: none of {sorted(wanted)} is used:\n    {text_of}")
    return found


def test_hot_queries_use_indexes_and_never_scan_the_history(
    seeded: tuple[Context, SeedReport], backend: str
) -> None:
    ctx, report = seeded
    assert report.counts["deployments"] == SIZE
    s = pick_subjects(ctx, deep_page=5)
    assert s.deep_page == 5 and s.deep_cursor is not None
    names = [q.name for q in hot_queries(s)]
    assert "DORA · one product, 90 days" in names  # the DORA service exists: checked too
    problems = _problems(ctx, s)
    assert problems == [], "\n\n".join(problems)
    if backend == "sqlite":
        # A database nobody ran ANALYZE on (no sqlite_stat1): the planner's defaults.
        with ctx.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM sqlite_stat1")
        ctx.engine.dispose()  # new connections read the (now empty) statistics
        problems = _problems(ctx, s)
        assert problems == [], "without statistics:\n" + "\n\n".join(problems)


def test_recording_reads_use_indexes(seeded: tuple[Context, SeedReport]) -> None:
    ctx, _ = seeded
    s = pick_subjects(ctx, deep_page=1)
    with capture(ctx.engine) as seen:
        for status in ("started", "completed"):
            record_deployment(
                ctx,
                RecordRequest(
                    product=s.product,
                    environment=s.environment,
                    version="900.0.0",
                    status=status,
                    commit_sha="ab" * 20,
                    ci_run_id="run-explain",
                ),
            )
    plans = explain_all(ctx.engine, seen)
    touched = [p for p in plans if "deployments" in p.statement.sql]
    # The open-deployment lookup and the repeat check at least (writes hand their row
    # back with RETURNING, so there is no read-back to plan any more).
    assert len(touched) >= 2
    problems = [f"{problem}\n    {p.describe()}" for p in plans for problem in p.problems]
    assert problems == [], "\n\n".join(problems)


def test_the_generated_history_is_what_the_services_would_have_recorded(
    seeded: tuple[Context, SeedReport], backend: str
) -> None:
    ctx, report = seeded
    counts = report.counts
    with ctx.engine.connect() as conn:
        if backend == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.execute(select(func.count()).select_from(deployments)).scalar() == SIZE
        assert conn.execute(select(func.count()).select_from(events)).scalar() == counts["events"]
        # Ids follow time: events by their time, deployments by when they were created.
        for table, column in ((events, events.c.at), (deployments, deployments.c.created_at)):
            later = table.alias("later")
            out_of_order = conn.execute(
                select(func.count())
                .select_from(table.join(later, later.c.id == table.c.id + 1))
                .where(later.c[column.name] < column)
            ).scalar()
            assert out_of_order == 0, f"{table.name}: ids out of time order"
        by_status: dict[str, int] = dict(
            conn.execute(
                select(deployments.c.status, func.count()).group_by(deployments.c.status)
            ).all()
        )
        assert by_status["completed"] > 0.85 * SIZE
        assert by_status["failed"] > 0.03 * SIZE
        assert by_status["rolled_back"] == counts["rolled_back"] > 0
        assert by_status.get("started", 0) > 0  # abandoned or still running
        # Every rolled-back deployment is reverted by one completed rollback of the same
        # product in the same environment, which finished after it and logged the mark.
        reverted = deployments.alias("reverted")
        rollbacks = conn.execute(
            select(deployments.c.id, deployments.c.finished_at, reverted.c.finished_at)
            .join(reverted, reverted.c.id == deployments.c.reverts_id)
            .where(
                deployments.c.kind == "rollback",
                deployments.c.status == "completed",
                reverted.c.status == "rolled_back",
                reverted.c.product_id == deployments.c.product_id,
                reverted.c.environment_id == deployments.c.environment_id,
            )
        ).all()
        assert len(rollbacks) == counts["rolled_back"]
        assert all(done > before for _, done, before in rollbacks)
        marks = conn.execute(
            select(func.count())
            .select_from(events)
            .where(events.c.type == "deployment.rolled_back")
        ).scalar()
        assert marks == counts["rolled_back"]
        refusals = conn.execute(
            select(func.count()).select_from(events).where(events.c.type == "gate.blocked")
        ).scalar()
        assert refusals == counts["gate_blocked"] > 0
        # One final event per finished deployment.
        finals = conn.execute(
            select(func.count())
            .select_from(events)
            .where(
                events.c.type.in_(
                    ["deployment.completed", "deployment.failed", "deployment.aborted"]
                )
            )
        ).scalar()
        finished = sum(by_status.get(k, 0) for k in ("completed", "failed", "aborted"))
        assert finals == finished + counts["rolled_back"]
        stored = set(
            conn.execute(
                select(
                    current_state.c.product_id,
                    current_state.c.environment_id,
                    current_state.c.deployment_id,
                    current_state.c.since,
                )
            ).all()
        )
        pairs = conn.execute(
            select(deployments.c.product_id, deployments.c.environment_id).distinct()
        ).all()
    # current_state is exactly what refresh_current_state computes.
    with ctx.engine.connect() as conn:
        trans = conn.begin()
        for product_id, environment_id in pairs:
            refresh_current_state(conn, product_id, environment_id)
        recomputed = set(
            conn.execute(
                select(
                    current_state.c.product_id,
                    current_state.c.environment_id,
                    current_state.c.deployment_id,
                    current_state.c.since,
                )
            ).all()
        )
        trans.rollback()
    assert len(stored) == counts["current_state"] > 0
    assert recomputed == stored

    # The services read it: a whole history by keyset pages, stats, the matrix.
    s = pick_subjects(ctx, deep_page=1)
    seen: list[int] = []
    cursor = None
    while True:
        page = history(
            ctx,
            HistoryFilter(product=s.product, environment=s.environment),
            limit=100,
            cursor=cursor,
        )
        seen += [d.id for d in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == s.pair_deployments
    first = history(ctx, HistoryFilter(product=s.product), limit=1).items[0]
    assert first.deployed_at.tzinfo is not None and first.deployed_at <= END
    totals = stats(ctx, HistoryFilter(product=s.product))
    assert totals.total == s.product_deployments
    assert totals.versions and len(totals.versions) <= 100
    matrix = current_matrix(ctx)
    assert len(matrix.cells) == counts["current_state"]
    assert len(matrix.products) == 200 and len(matrix.environments) == 12

    # Recording on top of it works like on any database: new ids, the matrix moves.
    before = matrix.cell(s.product, "production")
    done = None
    for status in ("started", "completed"):
        done = record_deployment(
            ctx,
            RecordRequest(
                product=s.product,
                environment="production",
                version="900.1.0",
                status=status,
                commit_sha="cd" * 20,
            ),
        )
    assert done is not None and done.id > SIZE and done.status == "completed"
    after = current_matrix(ctx, product=s.product).cell(s.product, "production")
    assert after is not None and after.deployment_id == done.id
    assert before is None or before.deployment_id != done.id


def test_generation_is_deterministic_and_shaped_like_the_parameters() -> None:
    params = SeedParams(deployments=3_000, products=20, environments=5, years=1, end=END)
    one, two = generate(params), generate(params)
    assert one.deployments == two.deployments and one.event_keys == two.event_keys
    assert len(one.deployments) == 3_000
    assert len(one.products) == 20
    assert [e[1] for e in one.environments] == ["dev", "qa", "staging", "production", "prod-eu"]
    assert [e[2] for e in one.environments] == [
        "dev",
        "test",
        "staging",
        "production",
        "production",
    ]
    times = [d[20] for d in one.deployments]
    assert min(times) >= one.end_us - 366 * 86_400 * 1_000_000 and max(times) <= one.end_us
    other = generate(
        SeedParams(deployments=3_000, products=20, environments=5, years=1, end=END, seed=7)
    )
    assert other.deployments != one.deployments


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (SeedParams(deployments=0), "--deployments must be at least 1"),
        (SeedParams(deployments=10, products=11), "--products must be between 1 and"),
        (SeedParams(environments=0), "--environments must be between 1 and 100"),
        (SeedParams(years=0), "--years must be a number"),
        (SeedParams(deployments=True), "--deployments must be a whole number"),
    ],
)
def test_bad_parameters_name_the_option(params: SeedParams, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        params.validate()


def test_the_command_refuses_bad_input_and_a_database_with_history(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--url", database_url, "--deployments", "ten"])
    assert exit_.value.code == 2
    assert "--deployments: 'ten' is not a whole number" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--url", database_url, "--deployments", "5", "--products", "6"])
    assert "--products must be between 1 and --deployments (5)" in capsys.readouterr().err
    assert main(["--url", database_url, "--deployments", "300", "--products", "3"]) == 0
    assert "300 deployments" in capsys.readouterr().out
    assert main(["--url", database_url, "--deployments", "300", "--products", "3"]) == 2
    assert "already holds data in products (3 rows)" in capsys.readouterr().err
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(products)).scalar() == 3
            assert conn.execute(text("SELECT count(*) FROM deployments")).scalar() == 300
    finally:
        engine.dispose()


@pytest.mark.slow
def test_the_query_benchmark_runs_quick_on_sqlite_and_its_checks_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench import dataset
    from bench.databases import Databases
    from bench.registry import Result, discover, registered
    from bench.run import run_section

    monkeypatch.setattr(dataset, "CACHE", tmp_path / "seeded")
    discover()
    (queries_bench,) = [b for b in registered() if b.name == "queries"]
    databases = Databases()
    try:
        section = run_section(queries_bench, ["sqlite"], databases, True, False)
    finally:
        databases.close()
    assert section["errors"] == []
    results = [Result.from_json(r) for r in section["results"]]
    figures = [r.figure for r in results]
    assert "current matrix · every product · p50" in figures
    assert "DORA · one product, 90 days · p50" in figures
    assert any(f.startswith("records/s at 20,000") for f in figures)
    assert all(r.value > 0 for r in results)
    checks = [c for r in results for c in r.checks]
    assert len(checks) >= 6 and all(c.passed for c in checks), [c.label for c in checks]
    assert list((tmp_path / "seeded").glob("*.db"))  # the seeded file was cached there
