"""Rollback time: from ``shipmate rollback`` starting to the first answer of the previous version.

Real parts only: the sample app (``python -m shipmate.demo.app``) in two loopback
slots run by the ``process`` target, a private nginx switched by the ``nginx``
switch, shipmate's SQLite store, and the ``shipmate`` console script as a fresh
process, as an on-call engineer would run it.

* **warm**: 2.0.0 has just been deployed and its run is keeping 1.0.0 warm in the
  other slot; the rollback supersedes that run and switches back.
* **cold**: 1.0.0 was retired; the rollback starts it, health checks it, switches.
* **baseline** (same run, same nginx, same two apps): rewrite the upstream file by
  hand and run ``nginx -s reload``, timed to the first answer of the other version:
  the floor any nginx-based switch sits on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.registry import BenchRun, Check, Result, Target, benchmark
from bench.stats import median, percentile
from shipmate.demo.deploytable import demoapp_deploy_table, served_version, toml_table
from shipmate.demo.nginx import NginxServer, find_nginx, free_port

__all__ = ["bench_rollback"]

WARM_TARGET = Target("value_max", 1000.0)
PRODUCT = "api"
ENV = "bench"
POLL = 0.01

METHOD = """
Everything is real and on this machine: the sample app (`python -m shipmate.demo.app`) in
two loopback slots started by the `process` target, a private nginx (2 workers) switched
by the `nginx` switch (`nginx -t`, then `nginx -s reload`), shipmate's store on SQLite,
and `shipmate rollback --yes` started as a fresh process with `subprocess.Popen`. The
clock starts just before `Popen` and stops when a request through nginx (a new
connection, polled every 10 ms from the benchmark process) first answers with the
previous version. **Warm**: `shipmate deploy` of 2.0.0 ran in the background with
`keep_warm = 600` and is keeping 1.0.0 warm in the other slot; the rollback supersedes
that run and switches back. **Cold**: 2.0.0 was deployed with `keep_warm = 0`, so 1.0.0
was stopped; the rollback starts it, health checks it (every 50 ms) and switches. The
**baseline**, measured inside every warm round while both versions run, is the bare
mechanism: write the upstream file by hand, `nginx -s reload`, first answer of the other
version (the file is then put back). Rounds alternate deploy → rollback; the table gives
the median and the 90th percentile of the rounds. The CLI's own start-up (Python,
imports, opening the database) is part of every rollback figure.
"""


def _env(scratch: Path, database_url: str, config: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SHIPMATE_", "GITHUB_", "GITLAB_", "CI_")) and k != "CI"
    }
    env["SHIPMATE_DATABASE_URL"] = database_url
    env["SHIPMATE_DATA_DIR"] = str(scratch / "data")
    env["SHIPMATE_CONFIG"] = str(config)
    env["GIT_CEILING_DIRECTORIES"] = str(scratch.parent)
    env["NO_COLOR"] = "1"
    return env


def _script() -> list[str]:
    beside = Path(sys.executable).parent / "shipmate"
    return [str(beside)] if beside.is_file() else [sys.executable, "-m", "shipmate"]


class _Rig:
    def __init__(self, run: BenchRun) -> None:
        self.run = run
        scratch = run.databases.scratch_dir("rollback")
        self.scratch = scratch
        self.nginx = NginxServer(scratch)
        self.nginx.start()
        self.url = run.databases.fresh("sqlite", "bench_rollback")
        table = demoapp_deploy_table(
            self.nginx, blue_port=free_port(), green_port=free_port(), keep_warm=600
        )
        self.ports = dict(table["slots"])
        self.warm_config = scratch / "warm.toml"
        self.warm_config.write_text(toml_table(f"products.{PRODUCT}.deploy", table))
        table["keep_warm"] = 0
        self.cold_config = scratch / "cold.toml"
        self.cold_config.write_text(toml_table(f"products.{PRODUCT}.deploy", table))
        self.failures: list[str] = []

    def env(self, config: Path) -> dict[str, str]:
        return _env(self.scratch, self.url, config)

    def shipmate(self, *args: str, config: Path) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*_script(), *args],
            env=self.env(config),
            cwd=self.scratch,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"shipmate {' '.join(args)} failed: {done.stderr.strip()[-400:]}")
        return done

    def deploy(self, version: str, config: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*_script(), "deploy", "--product", PRODUCT, "--env", ENV, "--version", version],
            env=self.env(config),
            cwd=self.scratch,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_served(self, version: str, timeout: float = 60.0, streak: int = 1) -> float:
        """Seconds until nginx answers with ``version`` ``streak`` times in a row."""
        start = time.perf_counter()
        deadline = start + timeout
        seen = 0
        while seen < streak:
            seen = seen + 1 if served_version(self.nginx, timeout=2.0) == version else 0
            if time.perf_counter() > deadline:
                raise RuntimeError(f"nginx never answered with {version}")
            if seen < streak:
                time.sleep(POLL if streak == 1 else 0.02)
        return time.perf_counter() - start

    def settle(self, version: str) -> None:
        """Until every nginx worker left from a reload is gone and ``version`` answers."""
        self.wait_served(version, streak=25)

    def port_running(self, version: str) -> int:
        """The slot port where ``version`` of the sample app answers."""
        for port in self.ports.values():
            try:
                with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                    f"http://127.0.0.1:{port}/version", timeout=2
                ) as response:
                    if json.loads(response.read())["full_version"] == version:
                        return int(port)
            except OSError:
                continue
        raise RuntimeError(f"no slot runs {version}")

    def wait_keep_warm(self, deploy: subprocess.Popen[str], timeout: float = 60.0) -> None:
        """Until the background deploy's run is keeping the old slot warm."""
        deadline = time.monotonic() + timeout
        while True:
            listed = self.shipmate(
                "runs", "list", "--status", "running", "--json", config=self.warm_config
            )
            items = json.loads(listed.stdout)["items"]
            if items:
                shown = self.shipmate(
                    "runs", "show", items[0]["id"], "--json", config=self.warm_config
                )
                if any(s["name"] == "keep_warm" for s in json.loads(shown.stdout)["steps"]):
                    return
            if deploy.poll() is not None or time.monotonic() > deadline:
                out = deploy.stdout.read() if deploy.stdout else ""
                raise RuntimeError(f"the deploy never reached keep_warm: {out[-400:]}")
            time.sleep(0.05)

    def timed_rollback(self, config: Path, expect: str) -> float:
        """Milliseconds from starting ``shipmate rollback --yes`` to ``expect`` answering."""
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*_script(), "rollback", "--product", PRODUCT, "--env", ENV, "--yes"],
            env=self.env(config),
            cwd=self.scratch,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        while served_version(self.nginx, timeout=2.0) != expect:
            if proc.poll() is not None and served_version(self.nginx) != expect:
                out = proc.stdout.read() if proc.stdout else ""
                raise RuntimeError(f"rollback exited {proc.returncode}: {out[-400:]}")
            time.sleep(POLL)
        elapsed = (time.perf_counter() - start) * 1000
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            self.failures.append(f"rollback exited {proc.returncode}: {out[-300:]}")
        return elapsed

    def baseline(self, to_port: int, expect: str) -> float:
        """Milliseconds of a bare upstream rewrite + ``nginx -s reload`` to ``expect`` answering."""
        path = self.nginx.upstream_file
        saved = path.read_text()
        path.write_text(f"upstream app {{\n    server 127.0.0.1:{to_port};\n}}\n")
        start = time.perf_counter()
        subprocess.run(
            [self.nginx.nginx_bin, "-c", str(self.nginx.conf), "-s", "reload"],
            check=True,
            capture_output=True,
        )
        deadline = start + 30
        while served_version(self.nginx, timeout=2.0) != expect:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"the bare reload never served {expect}")
            time.sleep(POLL)
        elapsed = (time.perf_counter() - start) * 1000
        path.write_text(saved)
        subprocess.run(
            [self.nginx.nginx_bin, "-c", str(self.nginx.conf), "-s", "reload"],
            check=True,
            capture_output=True,
        )
        return elapsed

    def close(self) -> None:
        try:
            from shipmate.config import load_settings
            from shipmate.engine.targets.process import ProcessTarget  # noqa: F401
            from shipmate.services.deploys.config import build_parts, load_product_deploy

            settings = load_settings(env=self.env(self.cold_config))
            target = build_parts(load_product_deploy(settings, PRODUCT)).target
            for slot in self.ports:
                target.stop(slot)
        finally:
            self.nginx.stop()


@benchmark("rollback", title="Rollback through nginx", method=METHOD, order=40)
def bench_rollback(run: BenchRun) -> list[Result]:
    if find_nginx() is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
    warm_rounds = run.pick(10, 3)
    cold_rounds = run.pick(5, 2)
    run.param("warm rounds", warm_rounds)
    run.param("cold rounds", cold_rounds)
    rig = _Rig(run)
    warm: list[float] = []
    cold: list[float] = []
    base: list[float] = []
    superseded_ok = True
    try:
        rig.shipmate(
            "deploy",
            "--product",
            PRODUCT,
            "--env",
            ENV,
            "--version",
            "1.0.0",
            config=rig.cold_config,
        )
        rig.settle("1.0.0")
        for n in range(warm_rounds):
            background = rig.deploy("2.0.0", rig.warm_config)
            rig.wait_keep_warm(background)
            rig.settle("2.0.0")
            live = json.loads(
                rig.shipmate("runs", "list", "--json", config=rig.warm_config).stdout
            )["items"][0]
            base.append(rig.baseline(rig.port_running("1.0.0"), "1.0.0"))
            rig.settle("2.0.0")
            warm.append(rig.timed_rollback(rig.cold_config, "1.0.0"))
            out, _ = background.communicate(timeout=60)
            # superseded: its version no longer serves, so the deploy exits 4 (rolled_back)
            superseded_ok &= background.returncode == 4 and "superseded" in out
            run.log(
                f"warm round {n + 1}: {warm[-1]:.0f} ms (baseline {base[-1]:.0f} ms, run {live['id']})"
            )
        for n in range(cold_rounds):
            rig.shipmate(
                "deploy",
                "--product",
                PRODUCT,
                "--env",
                ENV,
                "--version",
                "2.0.0",
                config=rig.cold_config,
            )
            rig.settle("2.0.0")
            cold.append(rig.timed_rollback(rig.cold_config, "1.0.0"))
            run.log(f"cold round {n + 1}: {cold[-1]:.0f} ms")
        history = json.loads(
            rig.shipmate("runs", "list", "--limit", "500", "--json", config=rig.cold_config).stdout
        )["items"]
    finally:
        rig.close()
    rollbacks = [r for r in history if r["kind"] == "rollback"]
    checks = (
        Check(
            f"all {warm_rounds + cold_rounds} rollbacks exited 0 and completed their run",
            not rig.failures
            and len(rollbacks) == warm_rounds + cold_rounds
            and all(r["status"] == "completed" for r in rollbacks),
        ),
        Check(
            f"each of the {warm_rounds} warm rollbacks superseded the deploy keeping 1.0.0 warm",
            superseded_ok and sum(1 for r in history if r["status"] == "superseded") == warm_rounds,
        ),
    )
    results = [
        Result(
            figure="warm rollback (old slot still running) · median",
            value=median(warm),
            unit="ms",
            baseline=median(base),
            baseline_name="bare `nginx -s reload` + first answer",
            targets=(WARM_TARGET,),
            higher_is_better=False,
            samples=tuple(warm),
            baseline_samples=tuple(base),
            checks=checks,
        ),
        Result(
            figure="warm rollback · p90",
            value=percentile(warm, 90),
            unit="ms",
            baseline=percentile(base, 90),
            baseline_name="bare `nginx -s reload` + first answer",
            targets=(WARM_TARGET,),
            higher_is_better=False,
        ),
        Result(
            figure="cold rollback (app start included) · median",
            value=median(cold),
            unit="ms",
            baseline=median(base),
            baseline_name="bare `nginx -s reload` + first answer",
            higher_is_better=False,
            samples=tuple(cold),
        ),
        Result(
            figure="cold rollback · p90",
            value=percentile(cold, 90),
            unit="ms",
            baseline=percentile(base, 90),
            baseline_name="bare `nginx -s reload` + first answer",
            higher_is_better=False,
        ),
    ]
    return results
