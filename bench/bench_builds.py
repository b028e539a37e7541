"""Build allocations per second: ``allocate_build`` against a raw SQL loop.

Both sides allocate one build per transaction on a hot counter row (a fresh
(product, version) per round, so every allocation after the first updates the
same row), in the same database, in alternating rounds, so drift in the
machine's speed hits both alike.  The raw loop is the irreducible work: the
counter upsert (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``) and the build
row's ``INSERT``, through the DB-API driver with the engine's settings.  The
service adds input validation, product/version lookup, the event-log row and
reading the stored build back: the ratio is what all of that costs.

With 8 processes every process allocates the same (product, version) at once;
afterwards the numbers handed out (and those stored) must be exactly 1..N.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import select

from bench.rawsql import RawConnection
from bench.registry import BenchRun, Check, Result, Target, benchmark
from bench.report import BACKEND_LABELS
from bench.stats import median, rate

__all__ = ["bench_builds"]

PROCESSES = 8
TARGET = Target("ratio_min", 0.5)
COMMIT = "0123456789abcdef0123456789abcdef01234567"

METHOD = """
Each round allocates builds of a fresh (product, version) for a fixed time, one
transaction per allocation, so every allocation after the first bumps the same hot
counter row; the rate is the allocations made over the round's wall time
(`time.perf_counter`). The service side calls `allocate_build` through a `Context` on
the engine from `shipmate.store.engine`. The baseline, measured in the same run on the
same database, is a raw DB-API loop doing only the counter upsert (`INSERT ... ON
CONFLICT DO UPDATE ... RETURNING`) and the build row's `INSERT`, one transaction per
allocation, with the same settings (SQLite: WAL, busy timeout, `synchronous=FULL`,
`BEGIN IMMEDIATE`; PostgreSQL: psycopg 3 on a throwaway local server with fsync and
synchronous commit on). Sides alternate round by round (rotating which goes first)
after a warm-up, and each figure is the median round. A second, informational baseline
runs every statement the service runs (product and version lookups, counter upsert,
build insert, event insert, read-back) through the driver, to split the gap into "more
SQL" and "the Python layers". With 8 processes (multiprocessing `spawn`, each with its
own engine or connection) all allocate the same (product, version) at once, released by
a barrier; the rate is the total over the span from the first start to the last finish,
and afterwards the numbers handed out, and the build rows stored, are checked to be
exactly 1..N with no gap and no duplicate.
"""


def _now() -> datetime:
    return datetime.now(UTC)


class ServiceAllocator:
    """Allocates through the service layer, as every front end does."""

    def __init__(self, url: str) -> None:
        from shipmate.config import Settings
        from shipmate.services.context import Context
        from shipmate.store.engine import make_engine

        self.ctx = Context(
            settings=Settings(database_url=url), engine=make_engine(url, pool_size=1)
        )

    def allocate(self, product: str, version: str) -> int:
        from shipmate.domain.requests import BuildRequest
        from shipmate.services.records.builds import allocate_build

        request = BuildRequest(
            product=product, version=version, commit_sha=COMMIT, branch="main", built_by="bench"
        )
        return allocate_build(self.ctx, request).build_number

    def close(self) -> None:
        self.ctx.close()


@dataclass(frozen=True)
class RawTarget:
    product_id: int
    version_id: int
    version: str


class RawAllocator:
    """The baseline: counter upsert + build insert, one transaction, DB-API only."""

    UPSERT = (
        "INSERT INTO build_counters (version_id, last_build_number, updated_at) "
        "VALUES (?, 1, ?) ON CONFLICT (version_id) DO UPDATE SET "
        "last_build_number = build_counters.last_build_number + 1, updated_at = ? "
        "RETURNING last_build_number"
    )
    INSERT = (
        "INSERT INTO builds (product_id, version_id, build_number, full_version, status, "
        "commit_sha, branch, built_by, extra, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )

    def __init__(self, url: str) -> None:
        self.conn = RawConnection(url)

    def prepare(self, product: str, version: str) -> RawTarget:
        """Create the product and version rows the loop allocates for (not timed)."""
        c = self.conn
        now = c.time(_now())
        c.begin()
        try:
            c.execute(
                "INSERT INTO products (name, created_at) VALUES (?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (product, now),
            )
            product_id = int(c.scalar("SELECT id FROM products WHERE name = ?", (product,)))
            c.execute(
                "INSERT INTO versions (product_id, version, is_semver, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (product_id, version) DO NOTHING",
                (product_id, version, True, now),
            )
            version_id = int(
                c.scalar(
                    "SELECT id FROM versions WHERE product_id = ? AND version = ?",
                    (product_id, version),
                )
            )
            c.commit()
        except BaseException:
            c.rollback()
            raise
        return RawTarget(product_id, version_id, version)

    def allocate(self, target: RawTarget) -> int:
        c = self.conn
        now = c.time(_now())
        c.begin()
        try:
            number = int(c.scalar(self.UPSERT, (target.version_id, now, now)))
            c.execute(
                self.INSERT,
                (
                    target.product_id,
                    target.version_id,
                    number,
                    f"{target.version}+build.{number}",
                    "pending",
                    COMMIT,
                    "main",
                    "bench",
                    c.json({}),
                    now,
                    now,
                ),
            )
            c.commit()
        except BaseException:
            c.rollback()
            raise
        return number

    def close(self) -> None:
        self.conn.close()


def stored_numbers(url: str, product: str, version: str) -> list[int]:
    """Every build number stored for (product, version), ascending."""
    from shipmate.store.engine import make_engine
    from shipmate.store.schema import builds, products, versions

    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(builds.c.build_number)
                .select_from(
                    builds.join(versions, versions.c.id == builds.c.version_id).join(
                        products, products.c.id == versions.c.product_id
                    )
                )
                .where(products.c.name == product, versions.c.version == version)
                .order_by(builds.c.build_number)
            ).scalars()
            return [int(n) for n in rows]
    finally:
        engine.dispose()


# --- one process ------------------------------------------------------------------------


class RawFullAllocator(RawAllocator):
    """Informational second baseline: every statement the service runs, through the
    DB-API driver, so the gap splits into "more SQL" and "the Python layers"."""

    INSERT_FULL = (
        "INSERT INTO builds (product_id, version_id, build_number, full_version, status, "
        "commit_sha, branch, repository, built_by, ci_platform, ci_run_id, ci_run_url, "
        "source_system, extra, created_at, updated_at, started_at, completed_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
    )
    EVENT = (
        "INSERT INTO events (type, at, actor, key_name, product_id, environment_id, "
        "deployment_id, from_status, to_status, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    LOAD = (
        "SELECT builds.*, products.name, versions.version FROM builds "
        "JOIN products ON products.id = builds.product_id "
        "JOIN versions ON versions.id = builds.version_id WHERE builds.id = ?"
    )

    def allocate_named(self, product: str, version: str) -> int:
        c = self.conn
        now = c.time(_now())
        c.begin()
        try:
            product_id = c.scalar("SELECT id FROM products WHERE name = ?", (product,))
            version_id = c.execute(
                "SELECT id, commit_sha FROM versions WHERE product_id = ? AND version = ?",
                (product_id, version),
            )[0][0]
            number = int(c.scalar(self.UPSERT, (version_id, now, now)))
            full = f"{version}+build.{number}"
            build_id = c.scalar(
                self.INSERT_FULL,
                (
                    *(product_id, version_id, number, full, "pending", COMMIT, "main"),
                    *(None, "bench", None, None, None, None, c.json({}), now, now, None, None),
                ),
            )
            c.execute(
                self.EVENT,
                (
                    *("build.allocated", now, "bench", None, product_id, None, None, None, None),
                    c.json({"full_version": full, "build_id": str(build_id), "commit": COMMIT}),
                ),
            )
            c.execute(self.LOAD, (build_id,))
            c.commit()
        except BaseException:
            c.rollback()
            raise
        return number


def timed(allocate: Callable[[], int], seconds: float) -> tuple[float, list[int]]:
    """Allocate until ``seconds`` have passed (at least once); (rate, numbers)."""
    got: list[int] = []
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        got.append(allocate())
        t1 = time.perf_counter()
        if t1 >= deadline:
            return rate(len(got), t1 - t0), got


def _single(run: BenchRun, url: str) -> list[Result]:
    seconds = 0.3 if run.quick else 1.5
    rounds = run.pick(5, 2)
    run.param("round length (1 process)", f"{seconds:g} s")
    run.param("rounds per side (1 process)", rounds)
    service = ServiceAllocator(url)
    raw = RawAllocator(url)
    full = RawFullAllocator(url)
    rates: dict[str, list[float]] = {"service": [], "raw": [], "raw-full": []}
    bad: list[str] = []
    try:
        # Warm-up: imports, statement caches, the connection pool, the page cache.
        warm = raw.prepare("warm-raw", "0.0.1")
        full.prepare("warm-full", "0.0.1")
        for _ in range(run.pick(100, 30)):
            service.allocate("warm-svc", "0.0.1")
            raw.allocate(warm)
            full.allocate_named("warm-full", "0.0.1")

        def side(name: str, r: int) -> Callable[[], int]:
            version = f"1.{r}.0"
            if name == "service":
                return lambda: service.allocate("bench-service", version)
            if name == "raw":
                target = raw.prepare("bench-raw", version)
                return lambda: raw.allocate(target)
            full.prepare("bench-raw-full", version)
            return lambda: full.allocate_named("bench-raw-full", version)

        names = list(rates)
        for r in range(rounds):
            for name in names[r % 3 :] + names[: r % 3]:  # rotate who goes first
                per_second, got = timed(side(name, r), seconds)
                rates[name].append(per_second)
                if got != list(range(1, len(got) + 1)):
                    bad.append(f"{name} round {r + 1}")
            run.log(
                f"{run.backend} 1 process round {r + 1}/{rounds}: "
                + ", ".join(f"{n} {rates[n][-1]:,.0f}/s" for n in names)
            )
    finally:
        service.close()
        raw.close()
        full.close()
    check = Check(
        f"{BACKEND_LABELS[run.backend]}, 1 process: every round handed out 1..N in order "
        f"(service and both raw loops){'; not in: ' + ', '.join(bad) if bad else ''}",
        not bad,
    )
    return [
        Result(
            figure="1 process · allocations/s",
            backend=run.backend,
            value=median(rates["service"]),
            unit="ops/s",
            baseline=median(rates["raw"]),
            baseline_name="raw SQL",
            targets=(TARGET,),
            samples=tuple(rates["service"]),
            baseline_samples=tuple(rates["raw"]),
            checks=(check,),
        ),
        Result(
            figure="1 process · allocations/s, against the service's own statements",
            backend=run.backend,
            value=median(rates["service"]),
            unit="ops/s",
            baseline=median(rates["raw-full"]),
            baseline_name="raw SQL, all 6 statements",
            samples=tuple(rates["service"]),
            baseline_samples=tuple(rates["raw-full"]),
        ),
    ]


# --- many processes ---------------------------------------------------------------------


def _worker(url: str, inbox: Any, outbox: Any, barrier: Any) -> None:
    """A spawned allocator: waits for (side, product, version, seconds), allocates for
    that long after the barrier, reports (start, end, numbers) or an error; ``None``
    stops it."""
    service: ServiceAllocator | None = None
    raw: RawAllocator | None = None
    try:
        service = ServiceAllocator(url)
        raw = RawAllocator(url)
        outbox.put(("ready", 0.0, 0.0, [], ""))
        while True:
            command = inbox.get()
            if command is None:
                return
            side, product, version, seconds = command
            try:
                if side == "raw":
                    target = raw.prepare(product, version)
                    allocate: Callable[[], int] = partial(raw.allocate, target)
                else:
                    allocate = partial(service.allocate, product, version)
                barrier.wait(timeout=120)
                t0 = time.perf_counter()
                _, got = timed(allocate, seconds)
                outbox.put(("ok", t0, time.perf_counter(), got, ""))
            except Exception as exc:  # reported to the parent, which fails the benchmark
                outbox.put(("error", 0.0, 0.0, [], f"{type(exc).__name__}: {exc}"))
    except Exception as exc:
        outbox.put(("error", 0.0, 0.0, [], f"{type(exc).__name__}: {exc}"))
    finally:
        if service is not None:
            service.close()
        if raw is not None:
            raw.close()


class Pool:
    """PROCESSES spawned allocators, kept alive across rounds."""

    def __init__(self, url: str) -> None:
        spawn = mp.get_context("spawn")
        self.barrier = spawn.Barrier(PROCESSES)
        self.outbox = spawn.Queue()
        self.inboxes = [spawn.Queue() for _ in range(PROCESSES)]
        self.procs = [
            spawn.Process(target=_worker, args=(url, inbox, self.outbox, self.barrier))
            for inbox in self.inboxes
        ]
        for p in self.procs:
            p.start()
        self._collect("start-up")

    def _collect(self, what: str) -> list[tuple[str, float, float, list[int], str]]:
        replies = [self.outbox.get(timeout=300) for _ in self.procs]
        errors = [r[4] for r in replies if r[0] == "error"]
        if errors:
            raise RuntimeError(f"{what}: {len(errors)} worker(s) failed: {errors[0]}")
        return replies

    def round(
        self, side: str, product: str, version: str, seconds: float
    ) -> tuple[float, list[int]]:
        """All processes allocate for ``seconds``; (span in seconds, every number)."""
        for inbox in self.inboxes:
            inbox.put((side, product, version, seconds))
        replies = self._collect(f"{side} round")
        span = max(r[2] for r in replies) - min(r[1] for r in replies)
        numbers = [n for r in replies for n in r[3]]
        return span, numbers

    def close(self) -> None:
        for inbox in self.inboxes:
            inbox.put(None)
        for p in self.procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
                p.join(timeout=10)


def _many(run: BenchRun, url: str) -> Result:
    seconds = 0.5 if run.quick else 2.0
    rounds = run.pick(3, 1)
    run.param("processes", PROCESSES)
    run.param(f"round length ({PROCESSES} processes)", f"{seconds:g} s")
    run.param(f"rounds per side ({PROCESSES} processes)", rounds)
    service_rates: list[float] = []
    raw_rates: list[float] = []
    failures: list[str] = []
    totals: list[int] = []
    pool = Pool(url)
    try:
        pool.round("service", "warm-many-svc", "0.0.1", 0.2)
        pool.round("raw", "warm-many-raw", "0.0.1", 0.2)
        for r in range(rounds):
            sides = ("service", "raw") if r % 2 == 0 else ("raw", "service")
            for side in sides:
                product, version = f"bench-many-{side}", f"2.{r}.0"
                span, numbers = pool.round(side, product, version, seconds)
                total = len(numbers)
                totals.append(total)
                (service_rates if side == "service" else raw_rates).append(rate(total, span))
                expected = list(range(1, total + 1))
                if sorted(numbers) != expected:
                    failures.append(f"{side} round {r + 1}: handed out {_describe(numbers, total)}")
                stored = stored_numbers(url, product, version)
                if stored != expected:
                    failures.append(f"{side} round {r + 1}: stored {_describe(stored, total)}")
            run.log(
                f"{run.backend} {PROCESSES} processes round {r + 1}/{rounds}: "
                f"service {service_rates[-1]:,.0f}/s, raw {raw_rates[-1]:,.0f}/s"
            )
    finally:
        pool.close()
    label = (
        f"{BACKEND_LABELS[run.backend]}, {PROCESSES} processes allocating one (product, version) at "
        f"once, {2 * rounds} round(s) of {min(totals)} to {max(totals)} allocations: the "
        "numbers handed out and the build rows stored are exactly 1..N, no gap, no duplicate"
    )
    if failures:
        label += f" ({'; '.join(failures)})"
    return Result(
        figure=f"{PROCESSES} processes · allocations/s",
        backend=run.backend,
        value=median(service_rates),
        unit="ops/s",
        baseline=median(raw_rates),
        baseline_name="raw SQL",
        targets=(TARGET,),
        samples=tuple(service_rates),
        baseline_samples=tuple(raw_rates),
        checks=(Check(label, not failures),),
    )


def _describe(numbers: list[int], total: int) -> str:
    seen = set(numbers)
    missing = sorted(set(range(1, total + 1)) - seen)
    duplicates = len(numbers) - len(seen)
    extra = sorted(n for n in seen if not 1 <= n <= total)
    return (
        f"{len(numbers)} numbers, {len(missing)} missing (first {missing[:5]}), "
        f"{duplicates} duplicated, {len(extra)} out of range"
    )


@benchmark(
    "builds",
    title="Build allocations per second",
    method=METHOD,
    per_backend=True,
    order=10,
)
def bench_builds(run: BenchRun) -> list[Result]:
    url = run.databases.fresh(run.backend, "bench_builds")
    return [*_single(run, url), _many(run, url)]
