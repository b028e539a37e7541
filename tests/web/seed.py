"""Demo-like data for the dashboard tests: six weeks of five products in three environments."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shipmate.demo.clock import FakeClock
from shipmate.domain.requests import RecordRequest
from shipmate.services.context import Context
from shipmate.services.records.deployments import record_deployment

PEOPLE = ["alice", "bob", "chen", "dana"]
ENVS = ["dev", "staging", "production"]
RELEASES: dict[str, list[str]] = {
    "payments-api": ["1.0.0", "1.1.0", "1.1.1", "1.2.0", "1.3.0", "1.3.1"],
    "storefront": ["2.3.0", "2.3.1", "2.4.0", "2.4.1", "2.5.0", "2.5.1"],
    "search-worker": ["0.9.0", "0.9.1", "0.9.2", "0.10.0", "0.10.1", "0.10.2"],
    "auth-service": ["3.0.0", "3.0.1", "3.1.0", "3.1.1", "3.1.2", "3.2.0"],
    "notifications": ["0.6.0", "0.6.1", "0.7.0", "0.7.1", "0.7.2", "0.8.0"],
}


def sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class Seeded:
    ids: dict[str, int] = field(default_factory=dict)
    count: int = 0


def _record(ctx: Context, clock: FakeClock, seeded: Seeded, **fields: Any) -> int:
    dep = record_deployment(ctx, RecordRequest(**fields))
    seeded.count += 1
    return dep.id


def seed(ctx: Context, clock: FakeClock, *, now: datetime | None = None) -> Seeded:
    """Six weeks up to ``now`` (the clock's time): failures, a rollback, drift, one in flight."""
    rng = random.Random(11)
    end = now or clock()
    start = end - timedelta(weeks=6)
    seeded = Seeded()
    run = 7000
    for week in range(6):
        for n, (product, versions) in enumerate(RELEASES.items()):
            version = versions[week]
            clock.set(start + timedelta(weeks=week, days=n % 3, hours=9 + n))
            commit = sha(f"{product}@{version}")
            commit_time = clock() - timedelta(hours=rng.randint(3, 40))
            last_week = week == 5
            envs = ENVS
            if last_week and product in ("payments-api", "notifications"):
                envs = ["dev", "staging"]  # not promoted yet: drift
            for env in envs:
                clock.advance(hours=rng.randint(1, 14), minutes=rng.randint(0, 59))
                run += 1
                common: dict[str, Any] = {
                    "product": product,
                    "environment": env,
                    "version": version,
                    "commit_sha": commit,
                    "commit_time": commit_time,
                    "branch": "main",
                    "deployed_by": rng.choice(PEOPLE),
                    "ci_platform": "github-actions",
                    "ci_run_id": str(run),
                    "ci_run_url": f"https://ci.example.com/acme/{product}/runs/{run}",
                }
                started = clock()
                if last_week and product == "auth-service" and env == "production":
                    clock.set(end - timedelta(minutes=4))
                    seeded.ids["in_progress"] = _record(
                        ctx, clock, seeded, status="started", started_at=clock(), **common
                    )
                    continue
                finished = started + timedelta(seconds=rng.randint(45, 420))
                fail = (product, version, env) in {
                    ("storefront", "2.4.0", "staging"),
                    ("search-worker", "0.10.0", "production"),
                    ("notifications", "0.8.0", "staging"),
                }
                dep = _record(
                    ctx,
                    clock,
                    seeded,
                    status="failed" if fail else "completed",
                    started_at=started,
                    completed_at=finished,
                    metadata={"notes": "smoke tests red"}
                    if fail
                    else {"image": f"{product}:{version}"},
                    **common,
                )
                seeded.ids[f"{product}@{version}@{env}"] = dep
                clock.set(finished)
                if fail and env == "production":
                    # fixed forward two hours later with the same version
                    clock.advance(hours=2)
                    seeded.ids["fix"] = _record(
                        ctx,
                        clock,
                        seeded,
                        status="completed",
                        started_at=clock() - timedelta(minutes=3),
                        completed_at=clock(),
                        **{**common, "ci_run_id": str(run) + "-retry"},
                    )
                if fail:
                    break
                if (product, version, env) == ("payments-api", "1.3.0", "production"):
                    clock.advance(minutes=35)
                    previous = sha("payments-api@1.2.0")
                    seeded.ids["rollback"] = _record(
                        ctx,
                        clock,
                        seeded,
                        product=product,
                        environment=env,
                        version="1.2.0",
                        status="completed",
                        kind="rollback",
                        reverts_id=dep,
                        commit_sha=previous,
                        deployed_by="dana",
                        started_at=clock() - timedelta(seconds=40),
                        completed_at=clock(),
                        metadata={"reason": "p99 latency doubled after 1.3.0"},
                    )
    clock.set(end)
    return seeded
