"""Seeded databases for the benchmarks: generated once, then copied for each use.

SQLite: the seeded file is cached under ``bench/results/seeded/`` (git-ignored),
named by the seed parameters, the generator version and the schema revision
(:data:`shipmate.store.migrate.HEAD`) so a new migration or generator rebuilds it;
each benchmark gets its own copy, so recording into it never dirties the cache.
Delete the folder to force a new seed.

PostgreSQL: the run's throwaway server is new every run, so the history is
seeded once per run into a template database, and each benchmark gets
``CREATE DATABASE ... TEMPLATE`` (a file copy) of it.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from bench.registry import BenchRun
from bench.seed import SeedParams, seed_database
from shipmate.store.migrate import HEAD

__all__ = ["CACHE", "Seeded", "seeded_copy"]

CACHE = Path(__file__).resolve().parent / "results" / "seeded"

#: PostgreSQL templates seeded in this process: (server port, cache key) -> (database,
#: seconds, counts).
_TEMPLATES: dict[tuple[int, str], tuple[str, float, dict[str, int]]] = {}


@dataclass(frozen=True)
class Seeded:
    """A benchmark's own copy of a seeded history."""

    url: str
    params: SeedParams
    #: Seconds the seeding took, when it happened in this call (None: it was cached).
    seeded_in: float | None
    copied_in: float
    how: str
    #: The seeding's own report (of the run that made the cached file, if cached).
    seed_seconds: float
    counts: dict[str, int]


def seeded_copy(run: BenchRun, deployments: int, name: str) -> Seeded:
    """A fresh copy, called ``name``, of the standard history of ``deployments``
    deployments (200 products, 12 environments, 3 years, seed 42) on ``run.backend``."""
    params = SeedParams(deployments=deployments, products=min(200, deployments))
    key = f"{params.cache_key()}-r{HEAD}"
    if run.backend == "sqlite":
        return _sqlite(run, params, key, name)
    return _postgres(run, params, key, name)


def _sqlite(run: BenchRun, params: SeedParams, key: str, name: str) -> Seeded:
    cached = CACHE / f"{key}.db"
    seeded_in = None
    if not cached.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = CACHE / f"{key}.partial.db"
        for leftover in CACHE.glob(f"{key}.partial.db*"):
            leftover.unlink()
        run.log(f"seeding {params.deployments:,} deployments into {cached} (cached for next runs)")
        t0 = time.perf_counter()
        report = seed_database(f"sqlite:///{partial}", params, log=run.log)
        seeded_in = time.perf_counter() - t0
        run.log(report.describe())
        facts = {"seconds": report.seconds, "counts": report.counts}
        (CACHE / f"{key}.json").write_text(json.dumps(facts), encoding="utf-8")
        partial.rename(cached)
    facts = json.loads((CACHE / f"{key}.json").read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    target = run.databases.root / f"{name}.db"
    shutil.copyfile(cached, target)
    copied_in = time.perf_counter() - t0
    how = "generated now" if seeded_in is not None else f"cached in {cached.name}"
    return Seeded(
        f"sqlite:///{target}",
        params,
        seeded_in,
        copied_in,
        how,
        float(facts["seconds"]),
        {str(k): int(v) for k, v in facts["counts"].items()},
    )


def _postgres(run: BenchRun, params: SeedParams, key: str, name: str) -> Seeded:
    server = run.databases.postgres()
    known = _TEMPLATES.get((server.port, key))
    seeded_in = None
    if known is None:
        template = f"seed_{params.deployments}"
        url = server.create_database(template)
        run.log(f"seeding {params.deployments:,} deployments into PostgreSQL database {template}")
        t0 = time.perf_counter()
        report = seed_database(url, params, log=run.log)
        seeded_in = time.perf_counter() - t0
        run.log(report.describe())
        known = (template, report.seconds, report.counts)
        _TEMPLATES[(server.port, key)] = known
    template, seconds, counts = known
    t0 = time.perf_counter()
    _copy_database(server.url, template, name)
    copied_in = time.perf_counter() - t0
    how = "generated now" if seeded_in is not None else "copied from this run's template"
    return Seeded(server.url_for(name), params, seeded_in, copied_in, how, seconds, dict(counts))


def _copy_database(url: str, template: str, name: str) -> None:
    """``CREATE DATABASE name TEMPLATE template``, retried while a straggling session
    (autovacuum) still holds the template; a file copy where the server can."""
    import psycopg

    statement = f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY'
    for attempt in range(20):
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(statement)
            return
        except psycopg.errors.SyntaxError:  # before PostgreSQL 15: no STRATEGY
            statement = f'CREATE DATABASE "{name}" TEMPLATE "{template}"'
        except psycopg.errors.ObjectInUse:
            if attempt == 19:
                raise
            time.sleep(0.5)
