"""A real blue-green stack for the runs tests: private nginx, the sample app, shipmate's store.

``Stack`` runs deploys in-process (services) or through the ``shipmate`` command in
a subprocess (for confirmation prompts and SIGKILL), against the same database
and state folder.  Teardown stops every slot and nginx.
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
from shipmate.demo.deploytable import demoapp_deploy_table, served_version, toml_table
from shipmate.demo.nginx import NginxServer, free_port
from shipmate.domain.requests import HistoryFilter
from shipmate.engine.targets.process import port_in_use
from shipmate.services.context import Context
from shipmate.services.deploys.config import ProductDeploy, build_parts, load_product_deploy
from shipmate.services.deploys.deploy import DeployRequest, RunOutcome, deploy
from shipmate.services.queries import history

__all__ = ["Stack"]

_ROOT = str(Path(__file__).resolve().parents[2])


@dataclass
class Stack:
    tmp: Path
    nginx: NginxServer
    ctx: Context
    blue: int = field(default_factory=free_port)
    green: int = field(default_factory=free_port)
    product: str = "api"
    env: str = "production"

    @property
    def data_dir(self) -> Path:
        return self.tmp / "data"

    @property
    def project(self) -> Path:
        path = self.tmp / "project"
        path.mkdir(exist_ok=True)
        return path

    def table(self, **overrides: Any) -> dict[str, Any]:
        return demoapp_deploy_table(
            self.nginx, blue_port=self.blue, green_port=self.green, **overrides
        )

    def settings(self, table: Mapping[str, Any] | None = None) -> Settings:
        return Settings(
            database_url=self.ctx.settings.database_url,
            data_dir=str(self.data_dir),
            sections={"products": {self.product: {"deploy": dict(table or self.table())}}},
        )

    def product_deploy(self, table: Mapping[str, Any] | None = None) -> ProductDeploy:
        return load_product_deploy(self.settings(table), self.product)

    def deploy(
        self, version: str, table: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> RunOutcome:
        return deploy(
            self.ctx,
            self.product_deploy(table),
            DeployRequest(self.product, self.env, version, actor="tester"),
            **kwargs,
        )

    # -- observing -------------------------------------------------------------------------

    def served(self) -> str | None:
        return served_version(self.nginx)

    def wait_served(self, version: str, timeout: float = 20.0) -> None:
        """Until nginx answers with ``version`` five times in a row (old workers gone)."""
        deadline = time.monotonic() + timeout
        streak = 0
        while streak < 5:
            streak = streak + 1 if self.served() == version else 0
            assert time.monotonic() < deadline, f"nginx never settled on {version}"
            time.sleep(0.02)

    def running(self, slot: str) -> bool:
        return port_in_use(self.blue if slot == "blue" else self.green)

    def records(self) -> list[tuple[str, str, str]]:
        page = history(self.ctx, HistoryFilter(product=self.product), limit=100)
        return [(d.full_version, d.status, d.kind) for d in reversed(page.items)]

    # -- the command line ------------------------------------------------------------------

    def write_config(self, table: Mapping[str, Any] | None = None) -> None:
        text = toml_table(f"products.{self.product}.deploy", table or self.table())
        (self.project / "shipmate.toml").write_text(text, encoding="utf-8")

    def cli_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("SHIPMATE_", "GITHUB_", "CI"))
        }
        env.update(
            {
                "SHIPMATE_DATABASE_URL": self.ctx.settings.database_url,
                "SHIPMATE_DATA_DIR": str(self.data_dir),
                "PYTHONPATH": _ROOT,
                "NO_COLOR": "1",
            }
        )
        env.update(extra or {})
        return env

    def cli(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        timeout: float = 90,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "shipmate", *args],
            cwd=self.project,
            env=self.cli_env(env),
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "shipmate", *args],
            cwd=self.project,
            env=self.cli_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def close(self) -> None:
        try:
            target = build_parts(self.product_deploy()).target
            for slot in ("blue", "green"):
                target.stop(slot)
        finally:
            self.nginx.stop()
