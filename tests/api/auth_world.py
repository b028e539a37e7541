"""A small world for the authorization tests: two products, keys of every kind.

``api`` is the product the limited keys are limited to, ``billing`` the other
one.  Both have a completed deployment, a build, a release action whose body and
output are secrets, a finished run with a failed release-action step, a managed
gate rule and a notification rule (disabled, so no worker runs).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select

from shipmate.domain.requests import BuildRequest, RecordRequest
from shipmate.domain.runs.plan import FlowEnd, Step, StepResult
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.services.gates import rules as gates
from shipmate.services.records.builds import allocate_build
from shipmate.services.records.deployments import record_deployment
from shipmate.services.releases import actions as releases
from shipmate.services.releases.hooks import RELEASE_ACTION_STEP
from shipmate.services.runs.journal import (
    begin_step,
    create_run,
    finish_run,
    finish_step,
    new_owner,
)
from shipmate.store.schema import api_keys, metadata

PRODUCTS = ("api", "billing")
OWN = "api"
SECRET_BODY = "echo the-secret-body"
SECRET_OUTPUT = "the-secret-output"


@dataclass(frozen=True)
class Who:
    name: str
    scope: str | None  # None: no key at all
    products: tuple[str, ...] = ()


WHO = (
    Who("anonymous", None),
    Who("root", "admin"),
    Who("admin@api", "admin", (OWN,)),
    Who("write", "write"),
    Who("write@api", "write", (OWN,)),
    Who("read", "read"),
    Who("read@api", "read", (OWN,)),
    Who("agent@api", "agent", (OWN,)),
)
#: The host the agent key acts for.
AGENT_HOST = "web-1"


@dataclass
class World:
    ctx: Context
    repository: Path
    commit: str
    tokens: dict[str, str] = field(default_factory=dict)
    deployment: dict[str, int] = field(default_factory=dict)
    run: dict[str, int] = field(default_factory=dict)


def git_repository(path: Path) -> str:
    """A repository with one commit at ``path``; returns the commit."""
    if shutil.which("git") is None:
        from tests.conftest import require_real_part

        require_real_part("git", "git is not installed (apt-get install git)")
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Ada",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Ada",
        "GIT_COMMITTER_EMAIL": "ada@example.com",
    }
    path.mkdir(parents=True)
    for args in (("init", "-q", "-b", "main"), ("commit", "-q", "--allow-empty", "-m", "feat: x")):
        subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True)
    out = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=path, env=env, check=True, capture_output=True
    )
    return out.stdout.decode().strip()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def notify_sections() -> dict[str, Any]:
    url = f"http://127.0.0.1:{closed_port()}/hook"
    return {
        "notifications": {
            "rules": [
                {"name": f"{p}-hook", "url": url, "products": [p], "enabled": False}
                for p in PRODUCTS
            ]
            + [{"name": "global-hook", "url": url, "enabled": False}]
        }
    }


def served(world: World) -> Context:
    """The world's context with notification rules and each product's repository."""
    ctx = world.ctx
    # Each product deploys remotely to the agent key's host (POST /api/v1/runs).
    deploy = {
        "keep_warm": 0,
        "slots": {"blue": 18001, "green": 18002},
        "target": {"type": "process", "command": "true"},
        "switch": {"type": "command", "command": "true"},
        "hosts": [AGENT_HOST],
    }
    repos = {
        "products": {p: {"repository": str(world.repository), "deploy": deploy} for p in PRODUCTS}
    }
    sections = {**ctx.settings.sections, **notify_sections(), **repos}
    return Context(
        settings=replace(ctx.settings, sections=sections), engine=ctx.engine, clock=ctx.clock
    )


def record(
    ctx: Context,
    product: str,
    environment: str,
    status: str,
    commit: str | None = None,
    version: str = "1.0.0",
) -> int:
    return record_deployment(
        ctx,
        RecordRequest(
            product=product,
            environment=environment,
            version=version,
            status=status,
            commit_sha=commit,
        ),
    ).id


def _failed_run(ctx: Context, product: str) -> int:
    owner = new_owner()
    run = create_run(
        ctx,
        kind="deploy",
        product=product,
        environment="runs",
        version="1.0.0",
        full_version="1.0.0",
        build_number=None,
        params={"plan": {}},
        actor="someone",
        owner=owner,
    )
    action = {"name": "warm", "kind": "shell", "phase": "up", "body": SECRET_BODY}
    step = Step(RELEASE_ACTION_STEP, "[1/1] 1.0.0 up: warm", {"actions": [action]})
    begin_step(ctx, run.id, owner, 0, step)
    failure = StepResult.failure(f"warm failed: {SECRET_OUTPUT}", output=SECRET_OUTPUT)
    finish_step(ctx, run.id, owner, 0, failure, duration_ms=1)
    finish_run(ctx, run.id, owner, FlowEnd(status="failed", message=f"{SECRET_OUTPUT}"))
    return run.id


def seed(ctx: Context, repository: Path) -> World:
    world = World(ctx, repository, git_repository(repository))
    for who in WHO:
        if who.scope is not None:
            world.tokens[who.name] = create_key(
                ctx,
                who.name.replace("@", "-at-"),
                who.scope,
                who.products,
                host=AGENT_HOST if who.scope == "agent" else None,
            ).token
    for product in PRODUCTS:
        allocate_build(ctx, BuildRequest(product=product, version="1.0.0"))
        releases.add_action(  # before it deploys: a deployed version's actions are fixed
            ctx,
            product,
            releases.ActionSpec(
                version="1.0.0", phase="up", kind="shell", body=SECRET_BODY, name="warm"
            ),
        )
        record(ctx, product, "staging", "completed", world.commit, version="0.9.0")
        world.deployment[product] = record(ctx, product, "staging", "completed", world.commit)
        gates.add_rule(
            ctx,
            {
                "name": f"{product}-rule",
                "kind": "concurrency",
                "products": [product],
                "environments": ["nowhere"],
            },
        )
        world.run[product] = _failed_run(ctx, product)
    gates.add_rule(ctx, {"name": "global-rule", "kind": "concurrency", "environments": ["nowhere"]})
    return world


def fingerprint(ctx: Context) -> list[Any]:
    """Every row of every table (``api_keys.last_used_at`` aside: checking a key may
    touch it): two equal fingerprints mean nothing changed."""
    rows: list[Any] = []
    with ctx.read() as conn:
        for table in metadata.sorted_tables:
            columns = [c for c in table.c if not (table is api_keys and c.name == "last_used_at")]
            order = list(table.primary_key.columns) or columns
            for row in conn.execute(select(*columns).order_by(*order)):
                rows.append((table.name, tuple(row)))
    return rows
