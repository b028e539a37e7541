"""Request to claim: from a run's creation to its agent's first ``begin_step``.

One real ``shipmate serve`` and one real ``shipmate agent`` (waiting in its claim long
poll) on loopback; the benchmark creates runs for the agent's host one at a time,
with the service the server uses, and reads the journal: the time from the run's
``created_at`` to its first step's ``started_at``.  Baseline, in the same run: one
HTTP request to the same server by ``curl`` (a fresh process, as the agent's claim
is a request it already has open).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench.registry import BenchRun, Check, Result, benchmark
from bench.stats import percentile
from shipmate.config import Settings
from shipmate.demo.deploytable import exiting_app_table
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.services.deploys.config import load_product_deploy
from shipmate.services.deploys.deploy import make_plan, open_run
from shipmate.services.runs.journal import get_run
from shipmate.store.engine import make_engine
from tests.support.server import ServerProcess

__all__ = ["bench_agents"]

HOST = "bench-host"
PRODUCT = "api"
_ROOT = str(Path(__file__).resolve().parents[1])

METHOD = """
One `shipmate serve` (a real subprocess on 127.0.0.1, one worker) and one `shipmate agent`
(a real subprocess with an agent key, no database) waiting in its claim long poll. The
benchmark creates a deploy run for the agent's host with the journal service (as the
server does), waits until the run ended, and creates the next one: 50 runs (10 with
`--quick`), each in its own environment, each deploying an app that exits at once (the
run fails at its start step; what is timed ends before that). The figure is the time
from the run's `created_at` to its first step's `started_at`, both written to the
database by their processes (the same machine clock): the claim (the server re-reads the
database every 0.2 s in a long poll, as a run made by another process wakes no one),
the agent's rebuild of the engine parts and the first journal write over HTTP. The
baseline is `curl -s -o /dev/null` of `/healthz` on the same server, timed as a whole
process, as many times, in the same run.
"""


def _curl(url: str) -> float:
    began = time.perf_counter()
    subprocess.run(["curl", "-s", "-o", "/dev/null", url], check=True, timeout=30)
    return (time.perf_counter() - began) * 1000


@benchmark(
    "agents",
    title="Deploy agents: request to claim",
    method=METHOD,
    per_backend=True,
    order=45,
)
def bench_agents(run: BenchRun) -> list[Result]:
    rounds = run.pick(50, 10)
    run.param("runs", rounds)
    url = run.databases.fresh(run.backend, "agents")
    scratch = run.databases.scratch_dir(f"agents-{run.backend}")
    settings = Settings(
        database_url=url,
        data_dir=str(scratch / "server"),
        sections={"products": {PRODUCT: {"deploy": exiting_app_table(18401, 18402)}}},
    )
    ctx = Context(settings=settings, engine=make_engine(url))
    server = ServerProcess(url, log_path=scratch / "server.log").start()
    token = create_key(ctx, "bench-agent", "agent", host=HOST).token
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPMATE_")}
    env.update({"SHIPMATE_TOKEN": token, "PYTHONPATH": _ROOT, "SHIPMATE_DATA_DIR": str(scratch)})
    with open(scratch / "agent.log", "w") as log:
        agent = subprocess.Popen(
            [sys.executable, "-m", "shipmate", "agent", "--url", server.base_url, "--host", HOST,
             "--data-dir", str(scratch / "agent")],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    claims: list[float] = []
    curls: list[float] = []
    ended = True
    try:
        deploy = load_product_deploy(settings, PRODUCT)
        for i in range(rounds + 1):  # the first run warms the agent up; it is not counted
            plan = make_plan(ctx, deploy, kind="deploy", environment=f"e{i}", version="1.0.0")
            created = open_run(ctx, deploy, plan, {}, owner=None, agent_host=HOST)
            deadline = time.monotonic() + 60
            while (found := get_run(ctx, created.id)).running:
                if time.monotonic() > deadline or agent.poll() is not None:
                    ended = False
                    break
                time.sleep(0.01)
            if not ended or not found.steps:
                ended = False
                break
            if i:
                claims.append((found.steps[0].started_at - found.created_at).total_seconds() * 1e3)
                curls.append(_curl(server.base_url + "/healthz"))
    finally:
        agent.terminate()
        try:
            agent.wait(timeout=30)
        except subprocess.TimeoutExpired:
            agent.kill()
        server.stop()
        ctx.close()
    if not claims:
        raise RuntimeError(f"the agent drove no run (see {scratch / 'agent.log'})")
    checks = (Check(f"the agent drove all {rounds} runs, one at a time", ended),)
    results = []
    for p in (50, 99):
        results.append(
            Result(
                figure=f"create to first begin_step, p{p}",
                value=percentile(claims, p),
                unit="ms",
                baseline=percentile(curls, p),
                baseline_name=f"curl GET /healthz, p{p}",
                backend=run.backend,
                higher_is_better=False,
                samples=tuple(claims),
                baseline_samples=tuple(curls),
                checks=checks if p == 50 else (),
            )
        )
    return results
