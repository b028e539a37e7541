"""Three real agents on the fleet's hosts, one real server, rollouts created as the server does.

:class:`RolloutWorld` puts a ``shipmate serve`` on the test's database (SQLite or
PostgreSQL), gives every fleet host an agent key and a ``shipmate agent`` process
(no database: the server's URL and its key; its data folder is the host's, so the
slots live where the fleet harness looks for them), and the server's deploy table:
web-1's table, ``hosts`` naming the three, and per-host overrides carrying each
host's nginx and slot ports.  Runs are created with
:func:`~shipmate.services.runs.remote.create_remote_run`, exactly what ``POST
/api/v1/runs`` calls; everything after that happens between the agents and the
server process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from shipmate.domain.requests import HistoryFilter
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.services.queries import history
from shipmate.services.runs.journal import RunRecord, get_run, list_runs
from shipmate.services.runs.remote import RemoteRunRequest, create_remote_run, registered_hosts
from tests.support.fleet import Fleet
from tests.support.server import ServerProcess

__all__ = ["RolloutWorld"]

_ROOT = str(Path(__file__).resolve().parents[2])


@dataclass
class RolloutWorld:
    tmp: Path
    ctx: Context
    fleet: Fleet
    server: ServerProcess | None = None
    agents: list[subprocess.Popen[str]] = field(default_factory=list)

    def start(self, *, config_file: Path | None = None) -> RolloutWorld:
        """The server (with ``config_file`` as its shipmate.toml, if given) and the agents."""
        self.server = ServerProcess(
            self.ctx.settings.database_url,
            log_path=self.tmp / "server.log",
            env={"SHIPMATE_DATA_DIR": str(self.tmp / "server-data")},
            config_file=config_file,
        ).start()
        for host in self.fleet:
            token = create_key(self.ctx, f"agent-{host.name}", "agent", host=host.name).token
            env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPMATE_", "CI"))}
            env.update(
                {
                    "SHIPMATE_TOKEN": token,
                    "PYTHONPATH": _ROOT,
                    "NO_COLOR": "1",
                    "SHIPMATE_DATA_DIR": str(host.root / "agent-home"),
                }
            )
            log = open(self.tmp / f"agent-{host.name}.log", "w")  # noqa: SIM115
            self.agents.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "shipmate",
                        "agent",
                        "--url",
                        self.server.base_url,
                        "--host",
                        host.name,
                        "--data-dir",
                        str(host.data_dir),
                    ],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    text=True,
                    cwd=self.tmp,
                )
            )
        deadline = time.monotonic() + 120
        while len(registered_hosts(self.ctx)) < len(self.fleet):
            assert time.monotonic() < deadline, self.logs()
            time.sleep(0.1)
        return self

    def configure(
        self,
        *,
        strategy: str = "rolling",
        rollback_strategy: str | None = None,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        **table: Any,
    ) -> dict[str, Any]:
        """The server's deploy table: web-1's, the three hosts, each host's own parts
        (set on the test's context, and returned)."""
        first = self.fleet[0]
        base: dict[str, Any] = {
            **first.deploy_table(**table),
            "hosts": [h.name for h in self.fleet],
            "environments": {
                "production": {
                    "strategy": strategy,
                    **({"rollback_strategy": rollback_strategy} if rollback_strategy else {}),
                }
            },
            "host_overrides": {
                h.name: {**h.deploy_table(**table), **dict((overrides or {}).get(h.name, {}))}
                for h in self.fleet
            },
        }
        sections = dict(self.ctx.settings.sections)
        sections["products"] = {"api": {"deploy": base}}
        self.ctx.settings = replace(self.ctx.settings, sections=sections)
        return base

    def rollout(self, kind: str, version: str | None = None, timeout: float = 240) -> RunRecord:
        """Create the rollout and wait until its coordinating run ends."""
        run_id = self.start_rollout(kind, version)
        deadline = time.monotonic() + timeout
        while (run := get_run(self.ctx, run_id)).running:
            assert time.monotonic() < deadline, (run, self.logs())
            time.sleep(0.1)
        return run

    def wait_until_warm(self, run_id: int, timeout: float = 240) -> None:
        """Until every host's run of the rollout keeps its old slot warm."""
        deadline = time.monotonic() + timeout
        while True:
            run = get_run(self.ctx, run_id)
            children = self.children(run).values() if "rollout" in run.params else [run]
            if all(any(s.name == "keep_warm" for s in c.steps) for c in children):
                return
            assert time.monotonic() < deadline, self.logs()
            time.sleep(0.05)

    def start_rollout(self, kind: str, version: str | None = None) -> int:
        """Create the rollout (as ``POST /api/v1/runs`` does); its coordinating run's id."""
        made = create_remote_run(
            self.ctx,
            RemoteRunRequest(
                kind=kind,
                product="api",
                environment="production",
                version=version,
                deployed_by="tester",
            ),
        )
        assert made.run is not None
        return made.run.id

    def children(self, parent: RunRecord) -> dict[str, RunRecord]:
        ids = parent.params["rollout"]["children"]
        return {host: get_run(self.ctx, int(run_id)) for host, run_id in ids.items()}

    def records(self) -> list[tuple[str, str, str]]:
        page = history(self.ctx, HistoryFilter(product="api"), limit=100)
        return [(d.full_version, d.status, d.kind) for d in reversed(page.items)]

    def runs(self) -> list[RunRecord]:
        return list_runs(self.ctx, product="api", limit=100)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.tmp.glob("*.log"))
        )

    def close(self) -> None:
        for proc in self.agents:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        if self.server is not None:
            self.server.stop()
