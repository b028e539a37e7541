"""Build numbers stay unique and gapless when many processes allocate at once."""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

from sqlalchemy import select

from shipmate.config import Settings
from shipmate.domain.requests import BuildRequest
from shipmate.services.context import Context
from shipmate.services.records.builds import allocate_build
from shipmate.store.engine import make_engine
from shipmate.store.schema import builds

PROCESSES = 16
PER_PROCESS = 50


def _worker(url: str, barrier: Any, out: Any) -> None:
    ctx = Context(settings=Settings(database_url=url), engine=make_engine(url, pool_size=1))
    got: list[int] = []
    try:
        barrier.wait(timeout=60)
        for _ in range(PER_PROCESS):
            got.append(allocate_build(ctx, BuildRequest("api", "1.4.0")).build_number)
        out.put(("ok", got))
    except Exception as exc:  # report to the parent rather than die silently
        out.put(("error", repr(exc)))
    finally:
        ctx.close()


def test_sixteen_processes_get_exactly_one_to_eight_hundred(ctx: Context) -> None:
    spawn = mp.get_context("spawn")
    barrier = spawn.Barrier(PROCESSES)
    out = spawn.Queue()
    url = ctx.settings.database_url
    procs = [spawn.Process(target=_worker, args=(url, barrier, out)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    errors = [r[1] for r in results if r[0] == "error"]
    assert errors == []
    numbers = sorted(n for _, got in results for n in got)
    assert numbers == list(range(1, PROCESSES * PER_PROCESS + 1))
    # Each process saw its own numbers increasing.
    for _, got in results:
        assert got == sorted(got)
    with ctx.read() as conn:
        stored = sorted(conn.execute(select(builds.c.build_number)).scalars().all())
    assert stored == numbers
