"""A revoked key stops working in every worker and on every server within a second.

Real ``shipmate serve`` processes: four workers on one database, and two servers
on one PostgreSQL.  Every request opens a new connection, so requests spread over
the workers.  The key is used until every process has it in memory, revoked
outside the process that answers (the CLI's service, or the other server), and
then: it must eventually be refused everywhere (polled, up to a generous bound),
and every request made once the documented bound (1 s) plus a margin has passed
must be refused.  Nothing here depends on how fast the machine is: the bound is a
promise about requests that *start* after it.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

from shipmate.config import Settings
from shipmate.services.auth.keys import create_key, revoke_key
from shipmate.services.context import Context
from shipmate.store.engine import make_engine
from tests.support.server import ServerProcess

#: The documented bound, and a margin for the request itself to get going.
BOUND_SECONDS = 1.0
MARGIN_SECONDS = 0.5
REQUESTS = 40


def _status(base_url: str, token: str) -> int:
    req = urllib.request.Request(
        base_url + "/api/v1/products", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _warm(bases: list[str], token: str) -> None:
    """Use the key until every worker of every server has verified it (and remembers it)."""
    for i in range(REQUESTS):
        assert _status(bases[i % len(bases)], token) == 200


def _assert_refused_within_the_bound(bases: list[str], token: str, revoked_at: float) -> None:
    """Refused eventually, and by every process for every request once the bound (plus a
    margin) has passed since the revocation."""
    late = revoked_at + BOUND_SECONDS + MARGIN_SECONDS
    statuses: list[int] = []
    while time.monotonic() < late:  # polling until the bound has passed is what is tested
        statuses.append(_status(bases[len(statuses) % len(bases)], token))
    assert 401 in statuses or statuses == [], "not refused anywhere within the bound"
    after = [_status(bases[i % len(bases)], token) for i in range(REQUESTS)]
    assert after == [401] * REQUESTS


def _no_rate_limit(tmp_path: Path) -> Path:
    """The refusals here are what revocation does; the auth-failure rate limit would turn
    the later ones into 429 and is tested on its own (tests/api/test_ratelimit.py)."""
    path = tmp_path / "shipmate.toml"
    path.write_text("[server]\nauth_failure_limit = 0\n")
    return path


def test_four_workers_refuse_a_key_revoked_by_the_cli(database_url: str, tmp_path: Path) -> None:
    ctx = Context(settings=Settings(database_url=database_url), engine=make_engine(database_url))
    token = create_key(ctx, "ci", "write").token
    try:
        with ServerProcess(
            database_url,
            workers=4,
            log_path=tmp_path / "serve.log",
            config_file=_no_rate_limit(tmp_path),
        ) as server:
            _warm([server.base_url], token)
            revoke_key(ctx, "ci", actor="someone at the CLI")
            revoked_at = time.monotonic()
            _assert_refused_within_the_bound([server.base_url], token, revoked_at)
    finally:
        ctx.close()


def test_two_servers_on_one_postgresql_refuse_a_key_revoked_on_one(
    pg_url: str, tmp_path: Path
) -> None:
    ctx = Context(settings=Settings(database_url=pg_url), engine=make_engine(pg_url))
    admin = create_key(ctx, "admin", "admin").token
    token = create_key(ctx, "ci", "write").token
    servers = [
        ServerProcess(
            pg_url,
            workers=2,
            log_path=tmp_path / f"server{i}.log",
            config_file=_no_rate_limit(tmp_path),
        ).start()
        for i in range(2)
    ]
    try:
        bases = [s.base_url for s in servers]
        _warm(bases, token)
        req = urllib.request.Request(
            bases[0] + "/api/v1/keys/ci",
            method="DELETE",
            headers={"Authorization": f"Bearer {admin}"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200
        revoked_at = time.monotonic()
        _assert_refused_within_the_bound(bases, token, revoked_at)
    finally:
        for s in servers:
            s.stop()
        ctx.close()
