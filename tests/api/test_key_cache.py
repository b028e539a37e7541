"""Verified API keys are remembered for ``[server] key_cache_seconds``, no longer, and
forgotten within half a second of any revocation (the revocation mark)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.errors import ConfigError
from shipmate.services.auth.keys import (
    REVOCATION_CHECK_SECONDS,
    Principal,
    Scope,
    VerifiedKeys,
    create_key,
    revoke_key,
)
from shipmate.services.context import Context


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _get(client: TestClient, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return client.get("/api/v1/products", headers=headers).status_code


def test_a_key_revoked_elsewhere_is_refused_once_the_mark_is_read_again(ctx: Context) -> None:
    token = create_key(ctx, "ci", "write", created_by="test").token
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings(key_cache_seconds=300))
    ticks = Ticks()
    app.state.verified_keys = VerifiedKeys(300, clock=ticks)
    with TestClient(app) as client:
        assert _get(client, token) == 200
        revoke_key(ctx, "ci", actor="someone at the CLI")  # not through this server
        ticks.now += REVOCATION_CHECK_SECONDS / 2
        assert _get(client, token) == 200  # the memory is trusted for half a second
        ticks.now += REVOCATION_CHECK_SECONDS / 2
        assert _get(client, token) == 401  # the mark moved: long before 300 s


def test_the_mark_is_read_once_per_interval_not_per_request(ctx: Context) -> None:
    token = create_key(ctx, "ci", "write", created_by="test").token
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings(key_cache_seconds=300))
    ticks = Ticks()
    app.state.verified_keys = VerifiedKeys(300, clock=ticks)
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "api_keys" in statement:
            statements.append(" ".join(statement.split()))

    event.listen(ctx.engine, "before_cursor_execute", seen)
    try:
        with TestClient(app) as client:
            for _ in range(50):
                assert _get(client, token) == 200
            first = list(statements)
            ticks.now += REVOCATION_CHECK_SECONDS
            for _ in range(50):
                assert _get(client, token) == 200
    finally:
        event.remove(ctx.engine, "before_cursor_execute", seen)
    marks = [s for s in statements if "count(api_keys.revoked_at)" in s]
    lookups = [s for s in statements if "WHERE api_keys.prefix" in s]
    # 100 requests: the key looked up once, the mark read once per half second.
    assert (len(marks), len(lookups)) == (2, 1)
    assert len([s for s in first if "count(api_keys.revoked_at)" in s]) == 1


def test_a_verification_begun_before_a_revocation_was_seen_is_not_remembered() -> None:
    ticks = Ticks()
    verified = VerifiedKeys(60, clock=ticks)
    verified.observe(3, started=ticks.now)
    who = Principal(name="ci", scope=Scope.WRITE)
    epoch = verified.epoch  # a request starts verifying the token...
    verified.observe(4, started=ticks.now)  # ...another sees a revocation meanwhile...
    verified.remember("shm_x_y", who, epoch)  # ...so the first answer may be out of date
    assert verified.get("shm_x_y") is None
    verified.remember("shm_x_y", who, verified.epoch)
    assert verified.get("shm_x_y") == who
    verified.observe(4, started=ticks.now)  # the same mark: nothing forgotten
    assert verified.get("shm_x_y") == who


def test_revoking_through_the_server_takes_effect_at_once(ctx: Context) -> None:
    admin = create_key(ctx, "admin", "admin", created_by="test").token
    token = create_key(ctx, "ci", "write", created_by="test").token
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings(key_cache_seconds=300))
    with TestClient(app) as client:
        assert _get(client, token) == 200
        gone = client.delete("/api/v1/keys/ci", headers={"Authorization": f"Bearer {admin}"})
        assert gone.status_code == 200
        assert _get(client, token) == 401


def test_zero_checks_every_request(ctx: Context) -> None:
    token = create_key(ctx, "ci", "write", created_by="test").token
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings(key_cache_seconds=0))
    with TestClient(app) as client:
        assert _get(client, token) == 200
        revoke_key(ctx, "ci", actor="someone at the CLI")
        assert _get(client, token) == 401


def test_failures_are_not_remembered_and_scope_is_still_checked(ctx: Context) -> None:
    token = create_key(ctx, "reader", "read", created_by="test").token
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings(key_cache_seconds=60))
    with TestClient(app) as client:
        assert _get(client, token + "x") == 401
        assert _get(client, token) == 200
        post = client.post(
            "/api/v1/deployments",
            headers={"Authorization": f"Bearer {token}"},
            json={"product": "api", "environment": "dev", "version": "1.0.0", "status": "started"},
        )
        assert post.status_code == 403  # a remembered read key still cannot write


def test_the_memory_is_keyed_by_digest_and_bounded() -> None:
    ticks = Ticks()
    verified = VerifiedKeys(60, clock=ticks)
    verified.observe(0, started=ticks.now)
    who = Principal(name="ci", scope=Scope.WRITE)
    for i in range(VerifiedKeys.LIMIT + 10):
        verified.remember(f"shm_x_{i}", who)
    assert len(verified._known) <= VerifiedKeys.LIMIT
    assert verified.get(f"shm_x_{VerifiedKeys.LIMIT + 9}") == who
    assert all(len(k) == 32 for k in verified._known)  # SHA-256 digests, not tokens


@pytest.mark.parametrize("bad", [-1, 301, "5", True])
def test_the_setting_is_checked(bad: object) -> None:
    with pytest.raises(ConfigError) as err:
        ServerSettings.from_table({"key_cache_seconds": bad})
    assert err.value.field == "server.key_cache_seconds"
