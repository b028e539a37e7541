"""The demo: a realistic few weeks of deployments on an embedded SQLite file.

Three products move through dev, staging and production over six weeks: builds
are allocated, deployments started and completed, one deploy fails, one release
is marked rolled back.  Then the matrix, recent history and stats are printed:
the same output ``shipmate current``, ``history`` and ``stats`` give.
"""

from __future__ import annotations

import hashlib
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shipmate.cli import render
from shipmate.config import Settings
from shipmate.demo.clock import FakeClock
from shipmate.domain.requests import BuildRequest, HistoryFilter, RecordRequest
from shipmate.services.context import Context, open_context
from shipmate.services.queries import current_matrix, history, stats
from shipmate.services.records.builds import allocate_build
from shipmate.services.records.deployments import record_deployment
from shipmate.services.records.rollbackmarks import mark_rollback

__all__ = ["run_demo"]

PEOPLE = ["alice", "bob", "chen", "dana"]
#: The version each product ships in each of the six weeks.  payments-api 1.3.0 is
#: rolled back in production in week 5; its fix 1.3.1 reaches staging in week 6 only.
SCHEDULE: dict[str, list[str]] = {
    "payments-api": ["1.0.0", "1.1.0", "1.1.0", "1.2.0", "1.3.0", "1.3.1"],
    "storefront": ["2.3.0", "2.3.0", "2.4.0", "2.4.0", "2.5.0", "2.5.0"],
    "search-worker": ["0.9.0", "0.9.1", "0.9.1", "0.10.0", "0.10.0", "0.10.0"],
}


def _header(text: str) -> None:
    print()
    print(render.colour(f"== {text} ==", "1"))


def run_demo(folder: Path, *, reset: bool = False, serve: bool = True, port: int = 8000) -> int:
    if reset and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "shipmate.db"
    fresh = not db.exists()
    settings = Settings(database_url=f"sqlite:///{db}", data_dir=str(folder))
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(weeks=6)
    clock = FakeClock(start)
    ctx = open_context(settings, clock=clock)
    rng = random.Random(7)
    try:
        if fresh:
            print(f"Recording six weeks of deployments into {db} ...")
            _play(ctx, clock, start, rng)
        else:
            print(f"Using the existing demo database {db} (--reset to start over).")
        clock.set(now)
        _header("What runs where (shipmate current)")
        print(render.render_matrix(current_matrix(ctx)))
        _header("Recent deployments (shipmate history --limit 12)")
        print(render.render_history(history(ctx, HistoryFilter(), limit=12)))
        _header("payments-api stats (shipmate stats --product payments-api)")
        print(render.render_stats(stats(ctx, HistoryFilter(product="payments-api"))))
        print()
        print("Try it yourself against the same database:")
        print(f"  export SHIPMATE_DATABASE_URL=sqlite:///{db.resolve()}")
        print("  .venv/bin/shipmate history --product storefront --env production")
        print("  .venv/bin/shipmate show 1")
        token = _demo_key(ctx) if serve else None
    finally:
        ctx.close()
    from shipmate.demo.bluegreen import run_bluegreen_demo

    run_bluegreen_demo(folder)  # real processes behind a private nginx, when nginx is there
    from shipmate.demo.rolling import run_rolling_demo

    run_rolling_demo(folder)  # a fresh environment rolled forward through three versions
    if serve and token:
        _serve(settings, token, port)
    return 0


def _demo_key(ctx: Context) -> str:
    from shipmate.services.auth.keys import create_key

    # A fresh name each run, so re-running on an existing demo database works too.
    name = f"demo-{datetime.now(UTC):%Y%m%d%H%M%S}"
    return create_key(ctx, name, "admin", created_by="demo").token


def _serve(settings: Settings, token: str, port: int) -> None:
    import os

    _header(f"The dashboard and API: http://127.0.0.1:{port}/ (Ctrl-C to stop)")
    print(f"Demo API key (admin, shown once): {token}")
    print()
    print(f"  open http://127.0.0.1:{port}/                # the dashboard (demo: open reads)")
    print(f"  open http://127.0.0.1:{port}/docs            # interactive API docs")
    print(f'  curl -H "Authorization: Bearer {token}" \\')
    print(f"       http://127.0.0.1:{port}/api/v1/current")
    print(f'  curl -H "Authorization: Bearer {token}" \\')
    print(f'       "http://127.0.0.1:{port}/api/deployments?product=storefront&limit=3"')
    print()
    from shipmate.cli import main

    os.environ["SHIPMATE_DATABASE_URL"] = settings.effective_database_url
    # The demo server lets anyone on this machine read, so the dashboard opens at once.
    config = Path(settings.data_dir) / "shipmate.toml"
    config.write_text("[server]\nanonymous_read = true\n", encoding="utf-8")
    os.environ["SHIPMATE_CONFIG"] = str(config)
    try:
        main(["serve", "--port", str(port), "--log-level", "warning"])
    except KeyboardInterrupt:
        print("stopped")


def _play(ctx: Context, clock: FakeClock, start: datetime, rng: random.Random) -> None:
    run_id = 4100
    for week in range(6):
        week_start = start + timedelta(weeks=week, hours=9)
        clock.set(week_start)
        for product in SCHEDULE:
            version = SCHEDULE[product][week]
            commit = hashlib.sha1(f"{product}@{version}".encode()).hexdigest()
            build = allocate_build(
                ctx,
                BuildRequest(
                    product,
                    version,
                    commit_sha=commit,
                    branch="main",
                    built_by="github-actions",
                    ci_platform="github-actions",
                ),
            )
            envs = ["dev", "staging"] if version == "1.3.1" else ["dev", "staging", "production"]
            for env in envs:
                clock.advance(hours=rng.randint(2, 18), minutes=rng.randint(0, 59))
                run_id += 1
                common: dict[str, Any] = {
                    "product": product,
                    "environment": env,
                    "version": build.full_version,
                    "commit_sha": commit,
                    # the commit was made a few hours to a day before its first deploy
                    "commit_time": week_start - timedelta(hours=rng.randint(2, 30)),
                    "branch": "main",
                    "deployed_by": rng.choice(PEOPLE),
                    "ci_platform": "github-actions",
                    "ci_run_id": str(run_id),
                    "ci_run_url": f"https://ci.example.com/acme/{product}/runs/{run_id}",
                }
                record_deployment(ctx, RecordRequest(status="started", **common))
                clock.advance(seconds=rng.randint(40, 400))
                fail = (product, version, env) == ("storefront", "2.4.0", "staging") and week == 2
                dep = record_deployment(
                    ctx,
                    RecordRequest(
                        status="failed" if fail else "completed",
                        metadata={"notes": "smoke tests red"} if fail else {},
                        **common,
                    ),
                )
                if fail:
                    break
                if (product, version, env) == ("payments-api", "1.3.0", "production"):
                    clock.advance(minutes=25)
                    mark_rollback(
                        ctx, str(dep.id), actor="dana", reason="p99 latency doubled after 1.3.0"
                    )
