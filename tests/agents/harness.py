"""Real parts for the agent tests: a ``shipmate serve``, ``shipmate agent`` processes, nginx.

:class:`AgentWorld` holds a migrated database (the test's), a server process on it,
an agent key for :data:`HOST`, a private nginx listening on 127.0.0.2 and the sample
app's deploy table.  Runs are created for the agent with the services (the plan a
local deploy would make, stored with the table it deploys with), as the server
will when the remote run API creates them.  Agents run as real processes with no
database at all: only the server's URL and the key.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipmate.config import Settings
from shipmate.demo.deploytable import demoapp_deploy_table, served_version
from shipmate.demo.nginx import NginxServer, free_port
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.services.deploys.config import build_parts, load_product_deploy
from shipmate.services.deploys.deploy import make_plan, open_run
from shipmate.services.runs.journal import RunRecord, get_run
from tests.support.server import ServerProcess

__all__ = ["HOST", "AgentWorld", "Proc"]

HOST = "web-1"
PRODUCT = "api"
_ROOT = str(Path(__file__).resolve().parents[2])


@dataclass
class Proc:
    popen: subprocess.Popen[str]
    log: Path

    def wait(self, timeout: float = 120.0) -> int:
        return self.popen.wait(timeout=timeout)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)


@dataclass
class AgentWorld:
    tmp: Path
    ctx: Context
    nginx: NginxServer
    blue: int = field(default_factory=free_port)
    green: int = field(default_factory=free_port)
    servers: list[ServerProcess] = field(default_factory=list)
    agents: list[Proc] = field(default_factory=list)
    token: str = ""
    keep_warm: float = 0.3

    @classmethod
    def open(cls, tmp: Path, ctx: Context, *, keep_warm: float = 0.3) -> AgentWorld:
        nginx = NginxServer(tmp / "nginx-host", address="127.0.0.2")
        nginx.start()
        world = cls(tmp, ctx, nginx, keep_warm=keep_warm)
        world.token = create_key(ctx, f"agent-{HOST}", "agent", host=HOST).token
        return world

    # -- the server ------------------------------------------------------------------

    def start_server(self, *, port: int | None = None) -> ServerProcess:
        n = len(self.servers)
        server = ServerProcess(
            self.ctx.settings.database_url,
            log_path=self.tmp / f"server-{n}.log",
            env={"SHIPMATE_DATA_DIR": str(self.tmp / f"server-data-{n}")},
        )
        if port is not None:
            server.port = port
        self.servers.append(server.start())
        return server

    # -- runs ------------------------------------------------------------------------

    def table(self, **overrides: Any) -> dict[str, Any]:
        return demoapp_deploy_table(
            self.nginx,
            blue_port=self.blue,
            green_port=self.green,
            keep_warm=overrides.pop("keep_warm", self.keep_warm),
            **overrides,
        )

    def settings(self, table: Mapping[str, Any] | None = None) -> Settings:
        return Settings(
            database_url=self.ctx.settings.database_url,
            data_dir=str(self.tmp / "server-data"),
            sections={"products": {PRODUCT: {"deploy": dict(table or self.table())}}},
        )

    def create_run(
        self,
        version: str,
        *,
        env: str = "production",
        host: str = HOST,
        table: Mapping[str, Any] | None = None,
    ) -> RunRecord:
        """A deploy run of ``version`` waiting for ``host``'s agent (as the server makes it)."""
        deploy = load_product_deploy(self.settings(table), PRODUCT)
        plan = make_plan(self.ctx, deploy, kind="deploy", environment=env, version=version)
        record = {"deployed_by": "tester"}
        return open_run(self.ctx, deploy, plan, record, owner=None, agent_host=host)

    def run(self, run_id: int) -> RunRecord:
        return get_run(self.ctx, run_id)

    def wait_for(self, run_id: int, what: str, timeout: float = 60.0) -> RunRecord:
        """Until the journal of ``run_id`` shows step ``what`` running (or the run ended)."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(run_id)
            if not run.running or any(s.name == what and s.status == "running" for s in run.steps):
                return run
            assert time.monotonic() < deadline, f"run {run_id} never reached {what}"
            time.sleep(0.05)

    # -- agents ----------------------------------------------------------------------

    def agent_env(
        self, extra: Mapping[str, str] | None = None, token: str | None = None
    ) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPMATE_", "CI"))}
        env.update(
            {
                "SHIPMATE_TOKEN": token or self.token,
                "PYTHONPATH": _ROOT,
                "NO_COLOR": "1",
                # No database on the deploy host: the agent must not need one.
                "SHIPMATE_DATA_DIR": str(self.tmp / "agent-home"),
            }
        )
        env.update(extra or {})
        return env

    def start_agent(
        self,
        server: ServerProcess,
        *,
        once: bool = True,
        name: str = "a",
        host: str = HOST,
        env: Mapping[str, str] | None = None,
        token: str | None = None,
    ) -> Proc:
        log = self.tmp / f"agent-{name}-{len(self.agents)}.log"
        args = [
            sys.executable,
            "-m",
            "shipmate",
            "agent",
            "--url",
            server.base_url,
            "--host",
            host,
            "--data-dir",
            str(self.tmp / f"agent-{name}"),
        ]
        if once:
            args.append("--once")
        handle = open(log, "w")  # noqa: SIM115 (closed with the process)
        popen = subprocess.Popen(
            args,
            env=self.agent_env(env, token),
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.tmp,
        )
        proc = Proc(popen, log)
        self.agents.append(proc)
        return proc

    # -- what nginx says ---------------------------------------------------------------

    def served(self) -> str | None:
        return served_version(self.nginx)

    def close(self) -> None:
        for proc in self.agents:
            proc.kill()
        for server in self.servers:
            server.stop()
        try:
            deploy = load_product_deploy(self.settings(), PRODUCT)
            for name in ("a", "b"):
                state = str((self.tmp / f"agent-{name}" / "deploy").resolve())
                target = build_parts(
                    type(deploy)(deploy.product, deploy.config, deploy.raw, deploy.prefix, state)
                ).target
                for slot in ("blue", "green"):
                    target.stop(slot)
        finally:
            self.nginx.stop()
