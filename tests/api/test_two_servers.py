"""Two `shipmate serve` processes on one PostgreSQL database, eight clients at once."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path

from sqlalchemy import func, select

from shipmate.config import Settings
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.store.engine import make_engine
from shipmate.store.schema import builds, deployments
from tests.support.server import ServerProcess

CLIENTS = 8
ROUNDS = 20


def _post(url: str, token: str, body: dict[str, object]) -> dict[str, object]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        result: dict[str, object] = json.loads(resp.read())
        return result


def test_two_servers_eight_clients(pg_url: str, tmp_path: Path) -> None:
    ctx = Context(settings=Settings(database_url=pg_url), engine=make_engine(pg_url))
    token = create_key(ctx, "load", "write").token
    servers = [
        ServerProcess(pg_url, log_path=tmp_path / f"server{i}.log").start() for i in range(2)
    ]
    errors: list[str] = []
    numbers: list[int] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        try:
            for r in range(ROUNDS):
                base = servers[(n + r) % 2].base_url
                build = _post(
                    base + "/api/v1/builds", token, {"product": "api", "version": "3.0.0"}
                )
                with lock:
                    numbers.append(int(build["build_number"]))  # type: ignore[call-overload]
                env = f"env-{n}"
                other = servers[(n + r + 1) % 2].base_url
                _post(
                    base + "/api/v1/deployments",
                    token,
                    {
                        "product": "api",
                        "environment": env,
                        "version": build["full_version"],
                        "status": "started",
                        "ci_run_id": f"{n}-{r}",
                    },
                )
                _post(
                    other + "/api/v1/deployments",
                    token,
                    {
                        "product": "api",
                        "environment": env,
                        "version": build["full_version"],
                        "status": "completed",
                        "ci_run_id": f"{n}-{r}",
                    },
                )
        except Exception as exc:
            with lock:
                errors.append(repr(exc))

    try:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    finally:
        for s in servers:
            s.stop()
    assert errors == []
    total = CLIENTS * ROUNDS
    assert sorted(numbers) == list(range(1, total + 1))
    with ctx.read() as conn:
        stored = sorted(conn.execute(select(builds.c.build_number)).scalars())
        assert stored == list(range(1, total + 1))
        rows = conn.execute(
            select(deployments.c.status, func.count()).group_by(deployments.c.status)
        ).all()
    # Every started was matched by its completed through the other server: one row each.
    assert dict(rows) == {"completed": total}
    ctx.close()
