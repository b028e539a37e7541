"""Request to claim: from the ``POST`` of a run to its agent's first ``begin_step``.

One real ``shipmate serve`` and one real ``shipmate agent`` (waiting in its claim long
poll) on loopback; the benchmark asks the server for a deploy with ``POST
/api/v1/runs``, one at a time, and reads the journal: the time from just before the
request to the run's first step's ``started_at``.  Baseline, in the same run: one
HTTP request to the same server by ``curl`` (a fresh process, as the agent's claim
is a request it already has open).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from bench.registry import BenchRun, Check, Result, Target, benchmark
from bench.stats import percentile
from shipmate.config import Settings
from shipmate.demo.deploytable import exiting_app_table, toml_table
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.services.runs.journal import get_run
from shipmate.store.engine import make_engine
from shipmate.store.schema_agents import hosts
from tests.support.server import ServerProcess

__all__ = ["bench_agents"]

HOST = "bench-host"
PRODUCT = "api"
_ROOT = str(Path(__file__).resolve().parents[1])

METHOD = """
One `shipmate serve` (a real subprocess on 127.0.0.1, one worker, the product's deploy
table in its configuration with `hosts = ["bench-host"]`) and one `shipmate agent` (a
real subprocess with an agent key, no database) waiting in its claim long poll. The
benchmark sends `POST /api/v1/runs` (a deploy, with a write key) to the server, waits
until the run ended, and sends the next one: 50 runs (10 with `--quick`), each in its
own environment, each deploying an app that exits at once (the run fails at its start
step; what is timed ends before that). The figure is the time from just before the
request to the run's first step's `started_at` as the server wrote it (the same machine
clock): the server's validation and the run's creation, the wake-up of the agent's long
poll, the claim, the agent's rebuild of the engine parts and its first journal write over
HTTP. The baseline is `curl -s -o /dev/null` of `/healthz` on the same server, timed as a
whole process, as many times, in the same run.
"""


TARGET = Target("value_max", 100.0)


def _post_run(base_url: str, token: str, environment: str) -> int:
    body = {"kind": "deploy", "product": PRODUCT, "environment": environment, "version": "1.0.0"}
    request = urllib.request.Request(
        base_url + "/api/v1/runs",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as answer:
        return int(json.loads(answer.read())["run"]["id"])


def _wait_for_host(ctx: Context, agent: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and agent.poll() is None:
        with ctx.read() as conn:
            if conn.execute(hosts.select().where(hosts.c.name == HOST)).first() is not None:
                return
        time.sleep(0.05)
    raise RuntimeError("the agent never said hello")


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
    table = {**exiting_app_table(18401, 18402), "hosts": [HOST]}
    config = scratch / "server.toml"
    config.write_text(toml_table(f"products.{PRODUCT}.deploy", table), encoding="utf-8")
    settings = Settings(database_url=url, data_dir=str(scratch / "server"))
    ctx = Context(settings=settings, engine=make_engine(url))
    server = ServerProcess(url, log_path=scratch / "server.log", config_file=config).start()
    token = create_key(ctx, "bench-agent", "agent", host=HOST).token
    writer = create_key(ctx, "bench-ci", "write").token
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
        _wait_for_host(ctx, agent)
        for i in range(rounds + 1):  # the first run warms the agent up; it is not counted
            asked = datetime.now(UTC)
            run_id = _post_run(server.base_url, writer, f"e{i}")
            deadline = time.monotonic() + 60
            while (found := get_run(ctx, run_id)).running:
                if time.monotonic() > deadline or agent.poll() is not None:
                    ended = False
                    break
                time.sleep(0.01)
            if not ended or not found.steps:
                ended = False
                break
            if i:
                claims.append((found.steps[0].started_at - asked).total_seconds() * 1e3)
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
                figure=f"POST of a run to its first begin_step, p{p}",
                value=percentile(claims, p),
                unit="ms",
                baseline=percentile(curls, p),
                baseline_name=f"curl GET /healthz, p{p}",
                backend=run.backend,
                higher_is_better=False,
                targets=(TARGET,) if p == 50 else (),
                samples=tuple(claims),
                baseline_samples=tuple(curls),
                checks=checks if p == 50 else (),
            )
        )
    return results
