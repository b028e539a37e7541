"""The demo's live part: a real blue-green deploy and a rollback behind a private nginx.

Runs the sample app (``python -m shipmate.demo.app``) in two loopback slots and a
private nginx on a free port, all under ``<demo dir>/bluegreen/`` with its own
shipmate database (so the recorded story of the main demo stays as it is):
deploys 1.0.0, then 2.0.0, then rolls back, printing each run's steps and what
nginx serves after each.  Everything it started is stopped at the end.  Without
nginx it says how to install it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from shipmate.cli import render
from shipmate.cli.runs.progress import PlainProgress
from shipmate.config import Settings
from shipmate.demo.deploytable import demoapp_deploy_table, served_version, toml_table
from shipmate.demo.nginx import NginxServer, find_nginx, free_port
from shipmate.services.context import open_context
from shipmate.services.deploys.config import build_parts, load_product_deploy
from shipmate.services.deploys.deploy import DeployRequest, RunOutcome, deploy
from shipmate.services.deploys.rollback import choose_rollback, preview_rollback, rollback

__all__ = ["run_bluegreen_demo"]

PRODUCT = "demo-app"
ENV = "local"


def _say(outcome: RunOutcome, nginx: NginxServer) -> None:
    end = outcome.end
    status = end.message if end is not None else "stopped"
    print(f"  -> {status}")
    print(f"  -> nginx at {nginx.url} now answers with version {served_version(nginx)}")
    print()


def run_bluegreen_demo(folder: Path) -> None:
    """Deploy 1.0.0 and 2.0.0 of the sample app blue-green, then roll back (see above)."""
    print()
    print(render.colour("== Blue-green deploys and a rollback, for real (shipmate deploy) ==", "1"))
    if find_nginx() is None:
        print("nginx is not installed, so this part is skipped. Install it and run again:")
        print("  sudo apt-get install nginx-light")
        return
    base = folder / "bluegreen"
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    nginx = NginxServer(base)
    nginx.start()
    table = demoapp_deploy_table(nginx, blue_port=free_port(), green_port=free_port(), keep_warm=1)
    (base / "shipmate.toml").write_text(toml_table(f"products.{PRODUCT}.deploy", table))
    settings = Settings(
        database_url=f"sqlite:///{base / 'shipmate.db'}",
        data_dir=str(base),
        sections={"products": {PRODUCT: {"deploy": table}}},
    )
    config = load_product_deploy(settings, PRODUCT)
    ctx = open_context(settings)
    progress = PlainProgress(sys.stdout)
    print(f"A private nginx listens on {nginx.url}; the app's slots are blue and green.")
    print(f"The configuration is in {base / 'shipmate.toml'}.")
    print()
    try:
        for version in ("1.0.0", "2.0.0"):
            outcome = deploy(
                ctx,
                config,
                DeployRequest(PRODUCT, ENV, version, actor="demo"),
                observer=progress,
            )
            _say(outcome, nginx)
        choice = choose_rollback(ctx, PRODUCT, ENV)
        preview_rollback(ctx, config, choice)
        print(
            f"Something is wrong with {choice.current.full_version}: "
            f"shipmate rollback --product {PRODUCT} --env {ENV} --yes"
        )
        outcome = rollback(
            ctx,
            config,
            choice,
            DeployRequest(PRODUCT, ENV, choice.target.full_version, actor="demo"),
            observer=progress,
        )
        _say(outcome, nginx)
        print("Look at the runs and their steps (the apps and nginx are stopped now):")
        print(f"  export SHIPMATE_DATABASE_URL=sqlite:///{(base / 'shipmate.db').resolve()}")
        print("  .venv/bin/shipmate runs list")
        print("  .venv/bin/shipmate runs show 3")
    finally:
        try:
            target = build_parts(config).target
            for slot in config.config.slots:
                target.stop(slot.name)
        finally:
            nginx.stop()
            ctx.close()
