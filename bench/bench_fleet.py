"""Remote warm rollback across hosts: ``shipmate rollback --yes`` to every host answering.

Real parts: the fleet harness's hosts (one real nginx per loopback address
127.0.0.2-4, the sample app in two slots per host), one ``shipmate serve`` on
SQLite with the deploy table in its ``shipmate.toml``, one ``shipmate agent``
process per host, and the remote CLI (``SHIPMATE_URL`` and a write key, no
database) started as a fresh process.  Baseline in the same run: a bare upstream
rewrite + ``nginx -s reload`` on one host to its first answer of the other version.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

from bench.registry import BenchRun, Check, Result, Target, benchmark
from bench.stats import percentile
from shipmate.config import Settings
from shipmate.demo.deploytable import served_version, toml_table
from shipmate.demo.nginx import find_nginx
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context, utcnow
from shipmate.services.runs.journal import get_run
from shipmate.store.engine import make_engine
from tests.fleet.rollout_world import RolloutWorld
from tests.support.fleet import FleetHost, make_fleet

__all__ = ["bench_fleet"]

_ROOT = str(Path(__file__).resolve().parents[1])
POLL = 0.01
TARGETS = {1: Target("ratio_max", 10.0), 3: Target("ratio_max", 15.0)}

METHOD = """
For one host and then for three (the fleet test harness: each host its own real nginx on
127.0.0.2-4 and the sample app in two slots), one `shipmate serve` on SQLite whose
`shipmate.toml` holds the deploy table (deploys `strategy = "rolling"`, `batch = 1`;
rollbacks the default `rollback_strategy`, `all`, and for three hosts also
`rollback_strategy = "rolling"`), one `shipmate agent` process per host, all on this
machine. Each round deploys 2.0.0 over 1.0.0 as a rollout with `keep_warm = 600` (created
with the service the server's `POST /api/v1/runs` calls) and waits until every host keeps
1.0.0 warm; then the clock starts just before `shipmate rollback --product api --env
production --yes` is started as a fresh process in remote mode (`SHIPMATE_URL`, a write key,
no database) and stops when every host's nginx answers 1.0.0 (a new connection per request,
polled every 10 ms). The rollback supersedes the warm rollout and is a rollout itself: `all`
(the default for rollbacks) switches every host back to its warm slot at once, `rolling`
takes them one after the other (each switches back and passes its check through the switch
before the next starts); each then waits for the verdict and records. The targets (at most
10x the baseline for one host, 15x for three) apply to the default configuration;
`rollback_strategy = "rolling"` is shown beside it. The baseline, measured in every round on
the first host while both versions run, is the bare mechanism: write the upstream file by
hand, `nginx -s reload`, first answer of the other version (then put back). The CLI's
start-up, the server's validation, the agents' claims (long polls) and the rollout's
verdicts are all part of the figure.
"""


def _rollback_cli(world: RolloutWorld, token: str) -> subprocess.Popen[str]:
    assert world.server is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPMATE_", "CI"))}
    env.update(
        {
            "SHIPMATE_URL": world.server.base_url,
            "SHIPMATE_TOKEN": token,
            "PYTHONPATH": _ROOT,
            "NO_COLOR": "1",
            "SHIPMATE_DATA_DIR": str(world.tmp / "cli-home"),
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "shipmate", "rollback", "--product", "api", "--env",
         "production", "--yes"],
        env=env, cwd=world.tmp, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _baseline(host: FleetHost, to_port: int, expect: str) -> float:
    nginx = host.nginx
    path = nginx.upstream_file
    saved = path.read_text()
    path.write_text(f"upstream {nginx.upstream_name} {{\n    server 127.0.0.1:{to_port};\n}}\n")
    reload = [nginx.nginx_bin, "-c", str(nginx.conf), "-s", "reload"]
    start = time.perf_counter()
    subprocess.run(reload, check=True, capture_output=True)
    while served_version(nginx, timeout=2.0) != expect:
        if time.perf_counter() > start + 30:
            raise RuntimeError(f"the bare reload never served {expect}")
        time.sleep(POLL)
    elapsed = (time.perf_counter() - start) * 1000
    path.write_text(saved)
    subprocess.run(reload, check=True, capture_output=True)
    return elapsed


def _settle(hosts: list[FleetHost], version: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    for host in hosts:
        streak = 0
        while streak < 25:
            streak = streak + 1 if host.served() == version else 0
            if time.monotonic() > deadline:
                raise RuntimeError(f"{host.name} never settled on {version}")
            time.sleep(0.02)


def _measure(
    run: BenchRun, count: int, rounds: int, strategy: str | None
) -> tuple[list[float], list[float], bool]:
    """Rollbacks with ``rollback_strategy = strategy`` (None: the default, all)."""
    name = strategy or "default"
    scratch = run.databases.scratch_dir(f"fleet-{count}-{name}")
    url = run.databases.fresh("sqlite", f"bench_fleet_{count}_{name}")
    ctx = Context(
        settings=Settings(database_url=url, data_dir=str(scratch / "server-data")),
        engine=make_engine(url),
        clock=utcnow,
    )
    fleet = make_fleet(scratch / "fleet", [url] * count)
    world = RolloutWorld(scratch, ctx, fleet)
    cold = world.configure(rollback_strategy=strategy, keep_warm=0)
    config = scratch / "server.toml"
    config.write_text(toml_table("products.api.deploy", cold))
    timed: list[float] = []
    base: list[float] = []
    ok = True
    try:
        world.start(config_file=config)
        token = create_key(ctx, "bench-ci", "write").token
        assert world.rollout("deploy", "1.0.0").status == "completed", world.logs()
        _settle(fleet.hosts, "1.0.0")
        for n in range(rounds):
            world.configure(rollback_strategy=strategy, keep_warm=600)
            deploy = world.start_rollout("deploy", "2.0.0")
            world.wait_until_warm(deploy)
            _settle(fleet.hosts, "2.0.0")
            first = fleet.hosts[0]
            base.append(_baseline(first, _old_port(first), "1.0.0"))
            _settle(fleet.hosts, "2.0.0")
            start = time.perf_counter()
            proc = _rollback_cli(world, token)
            for host in fleet.hosts:
                while host.served() != "1.0.0":
                    if time.perf_counter() > start + 120:
                        raise RuntimeError(f"{host.name} never answered 1.0.0: {world.logs()}")
                    time.sleep(POLL)
            timed.append((time.perf_counter() - start) * 1000)
            out, _ = proc.communicate(timeout=180)
            ok &= proc.returncode == 0 and get_run(ctx, deploy).status == "superseded"
            if proc.returncode != 0:
                run.log(f"rollback exited {proc.returncode}: {out[-300:]}")
            _settle(fleet.hosts, "1.0.0")
            _wait_idle(world)
            run.log(
                f"{count} host(s), round {n + 1}: {timed[-1]:.0f} ms (baseline {base[-1]:.0f} ms)"
            )
    finally:
        world.close()
        fleet.close()
        ctx.close()
    return timed, base, ok


def _answers(port: int) -> str | None:
    import json
    import urllib.request

    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{port}/version", timeout=2) as response:
            return str(json.loads(response.read())["full_version"])
    except OSError:
        return None


def _old_port(host: FleetHost) -> int:
    for port in (host.blue, host.green):
        if _answers(port) == "1.0.0":
            return port
    raise RuntimeError(f"no slot of {host.name} runs 1.0.0")


def _wait_idle(world: RolloutWorld, timeout: float = 120.0) -> None:
    """Until no run of the environment is running (the rollback retired its old slots)."""
    deadline = time.monotonic() + timeout
    while any(r.status in ("running", "queued") for r in world.runs()):
        if time.monotonic() > deadline:
            raise RuntimeError("the rollback never ended")
        time.sleep(0.05)


@benchmark("fleet", title="Remote warm rollback across hosts", method=METHOD, order=47)
def bench_fleet(run: BenchRun) -> list[Result]:
    if find_nginx() is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
    rounds = run.pick(5, 2)
    run.param("rounds per host count", rounds)
    results: list[Result] = []
    for count, strategy in ((1, None), (3, None), (3, "rolling")):
        timed, base, ok = _measure(run, count, rounds, strategy)
        noun = "host" if count == 1 else "hosts"
        if strategy is not None:
            noun += f", rollback_strategy = {strategy}"
        check = Check(
            f"all {rounds} remote rollbacks on {count} {noun} exited 0 and superseded the warm "
            "rollout",
            ok,
        )
        for label, value, baseline in (
            ("median", median(timed), median(base)),
            ("p90", percentile(timed, 90), percentile(base, 90)),
        ):
            results.append(
                Result(
                    figure=f"remote warm rollback, {count} {noun} · {label}",
                    value=value,
                    unit="ms",
                    baseline=baseline,
                    baseline_name="bare `nginx -s reload` + first answer, one host",
                    targets=(TARGETS[count],) if strategy is None else (),
                    higher_is_better=False,
                    samples=tuple(timed) if label == "median" else (),
                    baseline_samples=tuple(base) if label == "median" else (),
                    checks=(check,) if label == "median" else (),
                )
            )
    return results
