"""Hot queries at a million deployments, and recording at a million, on both backends.

The database is the standard generated history (``bench.seed``: 1,000,000
deployments over 200 products, 12 environments and 3 years; 20,000 with
``--quick``), copied from a cache (``bench.dataset``).  Each hot query
(``bench.hotqueries``) is called through its service, and beside it the very
statements the service sent (captured with a ``before_cursor_execute``
listener, parameters included) are replayed on a raw DB-API connection in one
transaction: the same answer at the cost of the SQL alone.  Then deployments are
recorded into the big history and into an empty database, in alternating
rounds, to see whether recording slows down as the table grows.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import desc, func, select

from bench.bench_records import ENVIRONMENTS, Step, steps
from bench.dataset import seeded_copy
from bench.hotqueries import PAGE, HotQuery, Subjects, hot_queries, pick_subjects
from bench.plans import Statement, capture, is_query
from bench.rawsql import RawConnection
from bench.registry import BenchRun, Check, Result, Target, benchmark
from bench.report import BACKEND_LABELS
from bench.stats import median, percentile, rate
from shipmate.config import Settings
from shipmate.services.context import Context
from shipmate.store.engine import make_engine

__all__ = ["bench_queries"]

FULL_SIZE = 1_000_000
QUICK_SIZE = 20_000
RECORD_TARGET = Target("ratio_min", 0.8)
DEEP_TARGET = Target("ratio_max", 1.25)
ROWS_NOTE = (
    "the raw side only fetches the tuples; the service also turns the 51 rows into records "
    "(about 300 timestamps, 51 JSON documents, 51 dataclasses), which is most of the gap "
    "on SQLite, where the warm statement itself costs a fraction of a millisecond"
)
#: "A few minutes" for a million deployments.
SEED_TARGET = Target("value_max", 300)

METHOD = """
The database is the generated history of `bench/seed.py` (1,000,000 deployments over 200
products × 12 environments and 3 years, seed 42; about 1.9 million events), bulk-loaded
once (SQLite: cached under `bench/results/seeded/`; PostgreSQL: once per run into a
template database) and copied for each benchmark; the load is followed by `ANALYZE`
(PostgreSQL: `VACUUM ANALYZE`). The queries ask about the product with the most
deployments (about 74,000) and its busiest environment (about 18,000), the worst case
for per-product figures. Each query is called through its service function (`history`,
`current_matrix`, `stats`, `show_deployment`, `dora_report`) on a `Context` built as
the CLI and the server build it. Its baseline is the same answer from raw SQL: the exact
statements the service sent to the driver, parameters included (captured once with a
SQLAlchemy `before_cursor_execute` listener), replayed on a DB-API connection with the
engine's settings (`bench/rawsql.py`) in one transaction. Service and raw calls
alternate after a warm-up, 200 rounds each (fewer for slow queries: at most about 10
s per query; 30 rounds with `--quick`), timed with `time.perf_counter`; the table
gives the p50 and p99 of each and their ratio. The deep page is page 200 of the pair's
history (50 rows a page), reached through the cursors the service hands out; it is
compared with the first page. Recording: the `records` benchmark's stream (a `started` +
`completed` pair or a lone `completed`, one `record_deployment` call each) into the three
largest products of the seeded history (new versions of them), against the same stream
into an empty migrated database, rounds of 2 s alternating between the two after a
warm-up, median round of 7 each.
"""


def _context(url: str) -> Context:
    return Context(settings=Settings(database_url=url), engine=make_engine(url))


class RawReplay:
    """The captured statements of one service call, run on a raw connection."""

    def __init__(self, url: str, statements: list[Statement]) -> None:
        self.conn = RawConnection(url)
        self.statements = statements

    def __call__(self) -> list[list[Any]]:
        c = self.conn
        if c.backend == "sqlite":
            c.execute("BEGIN")
        try:
            rows = [
                c.execute(s.sql, tuple(s.params) if isinstance(s.params, list) else s.params)
                for s in self.statements
            ]
            c.commit()
        except BaseException:
            c.rollback()
            raise
        return rows

    def close(self) -> None:
        self.conn.close()


def _timed_pair(
    first: Callable[[], Any],
    second: Callable[[], Any],
    *,
    rounds: int,
    budget: float,
    minimum: int,
) -> tuple[list[float], list[float]]:
    """Alternate the two calls (which goes first swaps each round); milliseconds each."""
    for _ in range(3):
        first()
        second()
    a: list[float] = []
    b: list[float] = []
    started = time.perf_counter()
    for i in range(rounds):
        pair = ((first, a), (second, b)) if i % 2 == 0 else ((second, b), (first, a))
        for call, into in pair:
            t0 = time.perf_counter()
            call()
            into.append((time.perf_counter() - t0) * 1000)
        if i + 1 >= minimum and time.perf_counter() - started > budget:
            break
    return a, b


def _checks(run: BenchRun, s: Subjects, q: HotQuery, got: Any, first_page: Any) -> list[Check]:
    label = BACKEND_LABELS[run.backend]
    out: list[Check] = []
    if q.name.startswith("history · product + environment"):
        items = got.items
        right = all(d.product == s.product and d.environment == s.environment for d in items)
        ordered = all(
            (x.deployed_at, x.id) > (y.deployed_at, y.id) for x, y in itertools.pairwise(items)
        )
        full = len(items) == PAGE or got.next_cursor is None  # the last page may be short
        after = first_page is None or (
            not items
            or (items[0].deployed_at, items[0].id)
            < (first_page.items[-1].deployed_at, first_page.items[-1].id)
        )
        out.append(
            Check(
                f"{label}, {q.name}: {len(items)} deployments of {s.product} in "
                f"{s.environment}, newest first"
                + ("" if first_page is None else ", all older than page 1")
                + ("" if full else f" (expected {PAGE}: not the last page)"),
                right and ordered and full and after,
            )
        )
    elif q.name.startswith("stats · one product") and "environment" not in q.name:
        out.append(
            Check(
                f"{label}, {q.name}: total {got.total:,} = the product's "
                f"{s.product_deployments:,} deployments",
                got.total == s.product_deployments,
            )
        )
    elif q.name.startswith("current matrix"):
        cells = len(got.cells)
        out.append(
            Check(
                f"{label}, {q.name}: {cells:,} cells for {len(got.products)} products × "
                f"{len(got.environments)} environments",
                cells > 0 and cells <= len(got.products) * len(got.environments),
            )
        )
    return out


def _queries(run: BenchRun, url: str, n: int) -> tuple[list[Result], Subjects]:
    ctx = _context(url)
    results: list[Result] = []
    rounds = run.pick(200, 30)
    budget = 10.0 if not run.quick else 2.0
    try:
        t0 = time.perf_counter()
        s = pick_subjects(ctx)
        run.log(
            f"{run.backend}: {s.product} ({s.product_deployments:,} deployments), "
            f"{s.environment} ({s.pair_deployments:,}), version {s.version}, deep page "
            f"{s.deep_page}; picked in {time.perf_counter() - t0:.1f} s"
        )
        run.param("history page size", PAGE)
        first_page = None
        for q in hot_queries(s):
            with capture(ctx.engine) as seen:
                got = q.call(ctx)
            reads = [st for st in seen if is_query(st.sql)]
            raw = RawReplay(url, reads)
            try:
                service_ms, raw_ms = _timed_pair(
                    functools.partial(q.call, ctx),
                    raw,
                    rounds=rounds,
                    budget=budget,
                    minimum=run.pick(30, 10),
                )
            finally:
                raw.close()
            checks = _checks(run, s, q, got, first_page if "page " in q.name else None)
            if q.name.endswith("first page"):
                first_page = got
            targets: list[Target] = []
            if q.target_ms is not None:
                targets.append(Target("value_max", q.target_ms))
            if q.raw_ratio is not None:
                targets.append(Target("ratio_max", q.raw_ratio))
            run.log(
                f"{run.backend} {q.name}: p50 {median(service_ms):.2f} ms (raw "
                f"{median(raw_ms):.2f}), p99 {percentile(service_ms, 99):.2f} ms "
                f"(raw {percentile(raw_ms, 99):.2f}), {len(service_ms)} rounds, "
                f"{len(reads)} statements"
            )
            results.append(
                Result(
                    figure=f"{q.name} · p50",
                    backend=run.backend,
                    value=median(service_ms),
                    unit="ms",
                    baseline=median(raw_ms),
                    baseline_name="raw SQL",
                    targets=tuple(targets),
                    higher_is_better=False,
                    samples=tuple(round(x, 4) for x in service_ms),
                    baseline_samples=tuple(round(x, 4) for x in raw_ms),
                    checks=tuple(checks),
                    extra={"statements": float(len(reads)), "rounds": float(len(service_ms))},
                    note=ROWS_NOTE if q.raw_ratio is not None else "",
                )
            )
            results.append(
                Result(
                    figure=f"{q.name} · p99",
                    backend=run.backend,
                    value=percentile(service_ms, 99),
                    unit="ms",
                    baseline=percentile(raw_ms, 99),
                    baseline_name="raw SQL",
                    higher_is_better=False,
                )
            )
        # Page 1 against the deep page, alternating in the same rounds, so drift in the
        # machine's speed between the two blocks above cannot tell them apart.
        by_name = {q.name: q for q in hot_queries(s)}
        first_q = next(q for name, q in by_name.items() if name.endswith("first page"))
        deep_q = next(q for name, q in by_name.items() if "(cursor)" in name)
        first_ms, deep_ms = _timed_pair(
            functools.partial(first_q.call, ctx),
            functools.partial(deep_q.call, ctx),
            rounds=rounds,
            budget=budget,
            minimum=run.pick(30, 10),
        )
        results.append(
            Result(
                figure=f"history · page {s.deep_page} against page 1 · p50",
                backend=run.backend,
                value=median(deep_ms),
                unit="ms",
                baseline=median(first_ms),
                baseline_name="page 1, same rounds",
                targets=(DEEP_TARGET,),
                higher_is_better=False,
                samples=tuple(round(x, 4) for x in deep_ms),
                baseline_samples=tuple(round(x, 4) for x in first_ms),
                checks=(
                    Check(
                        f"{BACKEND_LABELS[run.backend]}: the deep page is page "
                        f"{s.deep_page} of the {s.pair_deployments:,} deployments of the pair",
                        s.deep_page == 200 or run.quick,
                    ),
                ),
                note="both through the service, alternating round by round",
            )
        )
    finally:
        ctx.close()
    return results, s


# --- recording at 1M --------------------------------------------------------------------


def commit_of(version: str) -> str:
    return hashlib.sha1(version.encode()).hexdigest()


class Recorder:
    """``record_deployment`` calls of the ``records`` stream, into named products."""

    def __init__(self, url: str, products: list[str]) -> None:
        self.ctx = _context(url)
        self.products = products

    @staticmethod
    def version(step: Step) -> str:
        return f"1000.{step.version}.0"

    def record(self, step: Step) -> None:
        from shipmate.domain.requests import RecordRequest
        from shipmate.services.records.deployments import record_deployment

        version = self.version(step)
        record_deployment(
            self.ctx,
            RecordRequest(
                environment=ENVIRONMENTS[step.environment],
                status=step.status,
                product=self.products[step.product],
                version=version,
                commit_sha=commit_of(version),
                branch="main",
                deployed_by="bench",
                ci_platform="github",
                ci_run_id=f"run-{step.unit}",
                metadata={"pipeline": "bench", "unit": step.unit},
            ),
        )

    def close(self) -> None:
        self.ctx.close()


def _record_for(recorder: Recorder, stream: Iterator[Step], seconds: float) -> tuple[float, int]:
    """Whole units until ``seconds`` have passed; (calls per second, calls)."""
    t0 = time.perf_counter()
    deadline = t0 + seconds
    for calls, step in enumerate(stream, start=1):
        recorder.record(step)
        if step.final:
            t1 = time.perf_counter()
            if t1 >= deadline:
                return rate(calls, t1 - t0), calls
    raise AssertionError("the step stream is endless")


def _stored(url: str, products: list[str]) -> tuple[int, int]:
    """(completed deployments, events) of the benchmark's versions in ``products``."""
    from shipmate.store.schema import deployments, events
    from shipmate.store.schema import products as products_table

    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            ids = select(products_table.c.id).where(products_table.c.name.in_(products))
            mine = select(deployments.c.id).where(
                deployments.c.product_id.in_(ids), deployments.c.version.like("1000.%")
            )
            done = conn.execute(
                select(func.count())
                .select_from(deployments)
                .where(deployments.c.id.in_(mine), deployments.c.status == "completed")
            ).scalar_one()
            logged = conn.execute(
                select(func.count()).select_from(events).where(events.c.deployment_id.in_(mine))
            ).scalar_one()
    finally:
        engine.dispose()
    return int(done), int(logged)


def _largest_products(url: str, count: int) -> list[str]:
    from shipmate.store.schema import deployments, products

    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            return [
                str(r[0])
                for r in conn.execute(
                    select(products.c.name)
                    .join(deployments, deployments.c.product_id == products.c.id)
                    .group_by(products.c.name)
                    .order_by(desc(func.count()), products.c.name)
                    .limit(count)
                )
            ]
    finally:
        engine.dispose()


def _records(run: BenchRun, big_url: str, n: int) -> Result:
    empty_url = run.databases.fresh(run.backend, "bench_queries_empty")
    products = _largest_products(big_url, 3)
    seconds = 0.3 if run.quick else 2.0
    rounds = run.pick(7, 2)
    run.param("recording round length", f"{seconds:g} s")
    run.param("recording rounds per side", rounds)
    recorders = {"empty": Recorder(empty_url, products), "big": Recorder(big_url, products)}
    streams = {"empty": steps(), "big": steps()}
    rates: dict[str, list[float]] = {"empty": [], "big": []}
    calls = {"empty": 0, "big": 0}
    try:
        for side in ("empty", "big"):
            _, c = _record_for(recorders[side], streams[side], 0.3)
            calls[side] += c
        for r in range(rounds):
            for side in ("empty", "big") if r % 2 == 0 else ("big", "empty"):
                per_second, c = _record_for(recorders[side], streams[side], seconds)
                rates[side].append(per_second)
                calls[side] += c
            run.log(
                f"{run.backend} recording round {r + 1}/{rounds}: empty "
                f"{rates['empty'][-1]:,.0f}/s, at {n:,} {rates['big'][-1]:,.0f}/s"
            )
        units = {side: next(streams[side]).unit for side in streams}
    finally:
        for recorder in recorders.values():
            recorder.close()
    problems = []
    for side, url in (("empty", empty_url), ("big", big_url)):
        done, logged = _stored(url, products)
        if (done, logged) != (units[side], calls[side]):
            problems.append(
                f"{side}: {done} completed deployments and {logged} events for "
                f"{units[side]} units in {calls[side]} calls"
            )
    label = (
        f"{BACKEND_LABELS[run.backend]}, recording: every unit stored one completed "
        f"deployment and every call one event, in both databases"
    )
    if problems:
        label += f" (FAILED: {'; '.join(problems)})"
    return Result(
        figure=f"records/s at {n:,} deployments",
        backend=run.backend,
        value=median(rates["big"]),
        unit="ops/s",
        baseline=median(rates["empty"]),
        baseline_name="empty database",
        targets=(RECORD_TARGET,),
        samples=tuple(rates["big"]),
        baseline_samples=tuple(rates["empty"]),
        checks=(Check(label, not problems),),
        note=f"recorded into {', '.join(products)}",
    )


@benchmark(
    "queries",
    title="Hot queries and recording at a million deployments",
    method=METHOD,
    per_backend=True,
    order=40,
)
def bench_queries(run: BenchRun) -> list[Result]:
    n = run.pick(FULL_SIZE, QUICK_SIZE)
    run.param("deployments", f"{n:,}")
    seeded = seeded_copy(run, n, "bench_queries")
    run.log(
        f"{run.backend}: history of {n:,} deployments {seeded.how}"
        + (f" in {seeded.seeded_in:.0f} s" if seeded.seeded_in is not None else "")
        + f", copied in {seeded.copied_in:.1f} s"
    )
    counts = seeded.counts
    seed_row = Result(
        figure=f"bulk load of the generated history ({n:,} deployments)",
        backend=run.backend,
        value=seeded.seed_seconds,
        unit="s",
        targets=(SEED_TARGET,),
        higher_is_better=False,
        note=(
            f"{counts['deployments']:,} deployments ({counts['rolled_back']:,} rolled back), "
            f"{counts['events']:,} events, {counts['versions']:,} versions, "
            f"{counts['builds']:,} builds; generation, insert, index build and ANALYZE; "
            + (
                "measured in this run"
                if seeded.seeded_in is not None
                else "from the run that made the cached file"
            )
        ),
    )
    results, _ = _queries(run, seeded.url, n)
    results.append(_records(run, seeded.url, n))
    return [seed_row, *results]
