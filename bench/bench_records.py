"""Deployments recorded per second: ``record_deployment`` against raw SQL.

The stream is what CI sends: units alternate between a ``started`` then
``completed`` pair for one deployment and a lone ``completed`` (a pipeline that
reports only the end), spread over three products and three environments and a
pool of versions that already exist (``version next`` made them).  A "record" is
one call.  The raw baseline writes the same rows per call with the fewest
statements: ``started`` inserts the deployment and its event; ``completed`` after
``started`` updates the deployment, inserts the event and upserts
``current_state``; a lone ``completed`` inserts the deployment and event and
upserts ``current_state``; one transaction each.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from bench.rawsql import RawConnection
from bench.registry import BenchRun, Check, Result, Target, benchmark
from bench.report import BACKEND_LABELS
from bench.stats import median, rate

__all__ = ["bench_records"]

PRODUCTS = ("api", "web", "worker")
ENVIRONMENTS = ("dev", "staging", "production")
VERSIONS = tuple(f"1.{i}.0" for i in range(20))
RECORD_TARGET = Target("ratio_min", 0.5)

METHOD = """
Each round records deployments for a fixed time through `record_deployment` (one call
per status event, each its own transaction), over 3 products × 3 environments and 20
existing versions; units alternate between a `started` + `completed` pair (the
`completed` advances the deployment the `started` opened) and a lone `completed`, each
with a commit, branch, CI run id and a small metadata object. The rate is calls over the
round's wall time (`time.perf_counter`), counting only whole units. The baseline,
measured in the same run on the same database (other product names), is a raw DB-API
loop writing the same rows per call with the fewest statements: the deployment row
(insert, or update for the `completed` of a pair), its event row, and for `completed`
the `current_state` upsert, one transaction per call, with the engine's settings
(SQLite: WAL, busy timeout, `synchronous=FULL`, `BEGIN IMMEDIATE`; PostgreSQL: psycopg
3, fsync and synchronous commit on). Sides alternate round by round after a warm-up;
each figure is the median round. The service also validates and normalizes input,
resolves product, environment and version (remembered after the first call), takes the
per-(product, environment) lock (an advisory lock on PostgreSQL), looks for the open
deployment to advance, for a repeated finish and for the build it deploys, checks the
version's commit, and moves the current state only if the deployment finished last; on
PostgreSQL its writes are one statement. The CPU-time line is `time.process_time` of the benchmark process
over the timed rounds divided by the calls (PostgreSQL's server work is not in it; on
SQLite the library's is). Target: at least half the raw loop's rate; no slower at 1M
rows.
"""


@dataclass(frozen=True)
class Step:
    """One call: ``unit`` groups a pair; ``final`` is the unit's last call."""

    unit: int
    product: int
    environment: int
    version: int
    status: str
    final: bool


def steps() -> Iterator[Step]:
    """The endless record stream, identical for both sides."""
    unit = 0
    while True:
        p, e, v = unit % 3, (unit // 3) % 3, (unit // 9) % len(VERSIONS)
        if unit % 2 == 0:
            yield Step(unit, p, e, v, "started", False)
            yield Step(unit, p, e, v, "completed", True)
        else:
            yield Step(unit, p, e, v, "completed", True)
        unit += 1


def commit_of(version: str) -> str:
    return hashlib.sha1(version.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Catalog:
    """Ids of the rows a side records against (made before timing)."""

    products: tuple[int, ...]
    environments: tuple[int, ...]
    versions: dict[tuple[int, int], int]


def prepare(conn: RawConnection, prefix: str) -> Catalog:
    """Create the products (named ``prefix-*``), environments and versions."""
    now = conn.time(_now())
    conn.begin()
    try:
        products: list[int] = []
        for name in PRODUCTS:
            conn.execute(
                "INSERT INTO products (name, created_at) VALUES (?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (f"{prefix}-{name}", now),
            )
            products.append(
                int(conn.scalar("SELECT id FROM products WHERE name = ?", (f"{prefix}-{name}",)))
            )
        environments: list[int] = []
        for name in ENVIRONMENTS:
            conn.execute(
                "INSERT INTO environments (name, kind, kind_inferred, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                (name, "production" if name == "production" else name, True, now),
            )
            environments.append(
                int(conn.scalar("SELECT id FROM environments WHERE name = ?", (name,)))
            )
        versions: dict[tuple[int, int], int] = {}
        for p, product_id in enumerate(products):
            for v, version in enumerate(VERSIONS):
                conn.execute(
                    "INSERT INTO versions (product_id, version, is_semver, created_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (product_id, version) DO NOTHING",
                    (product_id, version, True, now),
                )
                versions[(p, v)] = int(
                    conn.scalar(
                        "SELECT id FROM versions WHERE product_id = ? AND version = ?",
                        (product_id, version),
                    )
                )
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return Catalog(tuple(products), tuple(environments), versions)


class ServiceRecorder:
    """Records through the service layer, as the CLI and the API do."""

    def __init__(self, url: str, prefix: str) -> None:
        from shipmate.config import Settings
        from shipmate.services.context import Context
        from shipmate.store.engine import make_engine

        self.prefix = prefix
        self.ctx = Context(settings=Settings(database_url=url), engine=make_engine(url))

    def record(self, step: Step) -> None:
        from shipmate.domain.requests import RecordRequest
        from shipmate.services.records.deployments import record_deployment

        version = VERSIONS[step.version]
        record_deployment(
            self.ctx,
            RecordRequest(
                environment=ENVIRONMENTS[step.environment],
                status=step.status,
                product=f"{self.prefix}-{PRODUCTS[step.product]}",
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


class RawRecorder:
    """The baseline: the same rows per call, fewest statements, DB-API only."""

    INSERT = (
        "INSERT INTO deployments (product_id, environment_id, version_id, version, "
        "full_version, status, kind, commit_sha, branch, deployed_by, ci_platform, ci_run_id, "
        "extra, deployed_at, created_at, updated_at, started_at, finished_at, duration_ms) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
    )
    FINISH = (
        "UPDATE deployments SET status = ?, updated_at = ?, finished_at = ?, duration_ms = ? "
        "WHERE id = ?"
    )
    EVENT = (
        "INSERT INTO events (type, at, actor, product_id, environment_id, deployment_id, "
        "from_status, to_status, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    CURRENT = (
        "INSERT INTO current_state (product_id, environment_id, deployment_id, since) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (product_id, environment_id) DO UPDATE SET "
        "deployment_id = excluded.deployment_id, since = excluded.since"
    )

    def __init__(self, url: str, prefix: str) -> None:
        self.conn = RawConnection(url)
        self.catalog = prepare(self.conn, prefix)
        self.open: dict[int, tuple[int, datetime]] = {}

    def record(self, step: Step) -> None:
        c = self.conn
        at = _now()
        now = c.time(at)
        product_id = self.catalog.products[step.product]
        environment_id = self.catalog.environments[step.environment]
        version = VERSIONS[step.version]
        c.begin()
        try:
            opened = self.open.pop(step.unit, None)
            if opened is not None:  # the completed of a pair
                deployment_id, started = opened
                duration = int((at - started).total_seconds() * 1000)
                c.execute(self.FINISH, ("completed", now, now, duration, deployment_id))
                from_status: str | None = "started"
            else:
                started_at = now if step.status == "started" else None
                finished_at = now if step.status == "completed" else None
                deployment_id = int(
                    c.scalar(
                        self.INSERT,
                        (
                            *(
                                product_id,
                                environment_id,
                                self.catalog.versions[step.product, step.version],
                            ),
                            *(version, version, step.status, "deploy", commit_of(version), "main"),
                            *("bench", "github", f"run-{step.unit}"),
                            c.json({"pipeline": "bench", "unit": step.unit}),
                            *(now, now, now, started_at, finished_at, None),
                        ),
                    )
                )
                if step.status == "started":
                    self.open[step.unit] = (deployment_id, at)
                from_status = None
            c.execute(
                self.EVENT,
                (
                    *(f"deployment.{step.status}", now, "bench", product_id, environment_id),
                    *(deployment_id, from_status, step.status),
                    c.json({"full_version": version, "kind": "deploy"}),
                ),
            )
            if step.status == "completed":
                c.execute(self.CURRENT, (product_id, environment_id, deployment_id, now))
            c.commit()
        except BaseException:
            c.rollback()
            raise

    def close(self) -> None:
        self.conn.close()


def timed(
    recorder: ServiceRecorder | RawRecorder, stream: Iterator[Step], seconds: float
) -> tuple[float, int]:
    """Record whole units until ``seconds`` have passed; (rate, calls)."""
    t0 = time.perf_counter()
    deadline = t0 + seconds
    for calls, step in enumerate(stream, start=1):
        recorder.record(step)
        if step.final:
            t1 = time.perf_counter()
            if t1 >= deadline:
                return rate(calls, t1 - t0), calls
    raise AssertionError("the step stream is endless")


def verify(url: str, backend: str, prefix: str, units: int, calls: int) -> Check:
    """The service side stored one completed deployment per unit, one event per call,
    and current_state points at the newest completed deployment of each pair."""
    from shipmate.store.engine import make_engine
    from shipmate.store.schema import current_state, deployments, events, products

    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            ids = select(products.c.id).where(products.c.name.like(f"{prefix}-%"))
            by_status: dict[str, int] = {
                str(status): int(n)
                for status, n in conn.execute(
                    select(deployments.c.status, func.count())
                    .where(deployments.c.product_id.in_(ids))
                    .group_by(deployments.c.status)
                )
            }
            event_count = conn.execute(
                select(func.count()).select_from(events).where(events.c.product_id.in_(ids))
            ).scalar_one()
            newest = {
                (p, e): d
                for p, e, d in conn.execute(
                    select(
                        deployments.c.product_id,
                        deployments.c.environment_id,
                        func.max(deployments.c.id),
                    )
                    .where(deployments.c.product_id.in_(ids))
                    .group_by(deployments.c.product_id, deployments.c.environment_id)
                )
            }
            current = {
                (p, e): d
                for p, e, d in conn.execute(
                    select(
                        current_state.c.product_id,
                        current_state.c.environment_id,
                        current_state.c.deployment_id,
                    ).where(current_state.c.product_id.in_(ids))
                )
            }
    finally:
        engine.dispose()
    problems = []
    if by_status != {"completed": units}:
        problems.append(f"deployments by status {by_status}, expected {units} completed")
    if event_count != calls:
        problems.append(f"{event_count} events for {calls} calls")
    if current != newest:
        problems.append("current_state does not point at the newest completed deployments")
    label = (
        f"{BACKEND_LABELS[backend]}, service side: {units} units in {calls} calls stored {units} completed deployments "
        f"and {calls} events; current_state points at the newest deployment of each of "
        f"{len(newest)} (product, environment) pairs"
    )
    if problems:
        label += f" (FAILED: {'; '.join(problems)})"
    return Check(label, not problems)


@benchmark(
    "records",
    title="Deployments recorded per second",
    method=METHOD,
    per_backend=True,
    order=20,
)
def bench_records(run: BenchRun) -> list[Result]:
    url = run.databases.fresh(run.backend, "bench_records")
    seconds = 0.3 if run.quick else 1.5
    rounds = run.pick(5, 2)
    run.param("round length", f"{seconds:g} s")
    run.param("rounds per side", rounds)
    # The service side records against existing products and versions, as after
    # `version next`; prepare() makes them for both sides.
    with RawConnection(url) as setup:
        prepare(setup, "svc")
    service = ServiceRecorder(url, "svc")
    raw = RawRecorder(url, "raw")
    streams: dict[str, Iterator[Step]] = {"service": steps(), "raw": steps()}
    recorders: dict[str, Any] = {"service": service, "raw": raw}
    rates: dict[str, list[float]] = {"service": [], "raw": []}
    calls = {"service": 0, "raw": 0}
    cpu = {"service": 0.0, "raw": 0.0}
    timed_calls = {"service": 0, "raw": 0}
    try:
        for name in ("service", "raw"):  # warm-up
            _, n = timed(recorders[name], streams[name], 0.2)
            calls[name] += n
        for r in range(rounds):
            for name in ("service", "raw") if r % 2 == 0 else ("raw", "service"):
                started_cpu = time.process_time()
                per_second, n = timed(recorders[name], streams[name], seconds)
                cpu[name] += time.process_time() - started_cpu
                timed_calls[name] += n
                rates[name].append(per_second)
                calls[name] += n
            run.log(
                f"{run.backend} round {r + 1}/{rounds}: service {rates['service'][-1]:,.0f}/s, "
                f"raw {rates['raw'][-1]:,.0f}/s"
            )
        units = next(streams["service"]).unit  # the next unit's number = units done
    finally:
        service.close()
        raw.close()
    return [
        Result(
            figure="1 process · records/s",
            backend=run.backend,
            value=median(rates["service"]),
            unit="ops/s",
            baseline=median(rates["raw"]),
            baseline_name="raw SQL",
            samples=tuple(rates["service"]),
            baseline_samples=tuple(rates["raw"]),
            targets=(RECORD_TARGET,),
            checks=(verify(url, run.backend, "svc", units, calls["service"]),),
        ),
        Result(
            figure="1 process · CPU time of this process per record",
            backend=run.backend,
            value=cpu["service"] / max(timed_calls["service"], 1) * 1000,
            unit="ms",
            baseline=cpu["raw"] / max(timed_calls["raw"], 1) * 1000,
            baseline_name="raw SQL",
            higher_is_better=False,
            note="`time.process_time` over the timed rounds: the Python side of a call "
            "(the database's own work and the waits for the disk are not in it), which a "
            "loaded machine distorts less than the rates",
        ),
    ]
