"""Failed authentication is rate limited per client address: 429 with Retry-After."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from shipmate.api.app import create_app
from shipmate.api.ratelimit import AuthFailureLimiter, client_address
from shipmate.api.settings import ServerSettings
from shipmate.errors import ConfigError
from shipmate.services.context import Context
from tests.api.conftest import auth
from tests.web.conftest import login_csrf

BAD = "shm_0000000000_not-a-real-key"


class Ticks:
    """A clock for the limiter (our own injectable interface): seconds we set."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limiter_allows_limit_failures_per_sliding_window() -> None:
    ticks = Ticks()
    limiter = AuthFailureLimiter(3, 60, clock=ticks)
    for _ in range(3):
        assert limiter.retry_after("a") is None
        limiter.failed("a")
        ticks.now += 10
    assert limiter.retry_after("a") == 30  # the first failure (t=1000) ages out at 1060
    assert limiter.retry_after("b") is None  # other addresses are not affected
    ticks.now = 1059.5
    assert limiter.retry_after("a") == 1
    ticks.now = 1060
    assert limiter.retry_after("a") is None
    limiter.failed("a")  # the fourth: now the second (t=1010) is the oldest of three
    assert limiter.retry_after("a") == 10


def test_a_zero_limit_turns_it_off() -> None:
    limiter = AuthFailureLimiter(0, 60)
    for _ in range(100):
        limiter.failed("a")
    assert limiter.retry_after("a") is None


def test_addresses_ipv6_per_64() -> None:
    assert client_address({"client": ("2001:db8:1:2:aaaa::1", 1)}) == "2001:db8:1:2::/64"
    assert client_address({"client": ("2001:db8:1:2:bbbb::9", 1)}) == "2001:db8:1:2::/64"
    assert client_address({"client": ("::ffff:192.0.2.7", 1)}) == "192.0.2.7"
    assert client_address({"client": ("192.0.2.7", 1)}) == "192.0.2.7"
    assert client_address({"client": None}) == "unknown"


def test_the_settings_are_checked() -> None:
    assert ServerSettings().auth_failure_limit == 10
    assert ServerSettings().auth_failure_window_seconds == 60
    chosen = ServerSettings.from_table(
        {"auth_failure_limit": 0, "auth_failure_window_seconds": 300}
    )
    assert (chosen.auth_failure_limit, chosen.auth_failure_window_seconds) == (0, 300.0)
    for table in (
        {"auth_failure_limit": -1},
        {"auth_failure_limit": 1.5},
        {"auth_failure_limit": True},
        {"auth_failure_window_seconds": 0},
    ):
        with pytest.raises(ConfigError) as err:
            ServerSettings.from_table(table)
        assert err.value.field == f"server.{next(iter(table))}"


@pytest.fixture
def server_settings() -> ServerSettings:
    return ServerSettings(default_product="api", auth_failure_limit=3)


@pytest.fixture
def limited(ctx: Context, server_settings: ServerSettings) -> Iterator[TestClient]:
    app = create_app(ctx.settings, ctx=ctx, server=server_settings)
    with TestClient(
        app, raise_server_exceptions=False, follow_redirects=False, client=("192.0.2.1", 5000)
    ) as c:
        yield c


def test_failed_api_authentication_is_limited_per_address(
    limited: TestClient, tokens: dict[str, str]
) -> None:
    for path in ("/api/v1/deployments", "/api/deployments", "/?format=json"):
        assert limited.get(path, headers=auth(BAD)).status_code == 401, path
    refused = limited.get("/api/v1/deployments", headers=auth(BAD))
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    error = refused.json()["error"]
    assert error["code"] == "rate_limited" and error["field"] == "authorization"
    assert error["details"]["retry_after"] == int(refused.headers["retry-after"])
    # while limited, even a good key from this address is not looked at
    assert limited.get("/api/v1/current", headers=auth(tokens["read"])).status_code == 429
    # a request without a credential is not an attempt: not limited
    assert limited.get("/healthz").status_code == 200
    assert limited.get("/api/v1/current").status_code == 401


def test_another_address_is_not_limited(
    ctx: Context, limited: TestClient, server_settings: ServerSettings, tokens: dict[str, str]
) -> None:
    for _ in range(3):
        limited.get("/api/v1/current", headers=auth(BAD))
    assert limited.get("/api/v1/current", headers=auth(tokens["read"])).status_code == 429
    with TestClient(
        limited.app, raise_server_exceptions=False, client=("192.0.2.2", 5000)
    ) as neighbour:
        assert neighbour.get("/api/v1/current", headers=auth(tokens["read"])).status_code == 200


def test_good_keys_and_refusals_by_scope_are_not_failures(
    limited: TestClient, tokens: dict[str, str]
) -> None:
    for _ in range(10):
        assert limited.get("/api/v1/current", headers=auth(tokens["read"])).status_code == 200
        forbidden = limited.post("/api/v1/keys", json={"name": "x"}, headers=auth(tokens["read"]))
        assert forbidden.status_code == 403
    assert limited.get("/api/v1/current", headers=auth(tokens["read"])).status_code == 200


def test_failed_logins_are_limited_too(limited: TestClient) -> None:
    for _ in range(3):
        failed = limited.post("/login", data={"key": BAD, "csrf": login_csrf(limited)})
        assert failed.status_code == 401
    refused = limited.post("/login", data={"key": BAD, "csrf": login_csrf(limited)})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "too many failed authentication attempts" in refused.text
    # and the API from the same address shares the budget
    assert limited.get("/api/v1/current", headers=auth(BAD)).status_code == 429


@pytest.mark.parametrize("server_settings", [ServerSettings(auth_failure_limit=0)])
def test_the_limit_can_be_turned_off(limited: TestClient) -> None:
    for _ in range(30):
        assert limited.get("/api/v1/current", headers=auth(BAD)).status_code == 401


def test_pages_and_docs_with_a_bad_key_answer_401_and_count(limited: TestClient) -> None:
    """Not a login page: a redirect or a 200 there would let anyone test keys unlimited."""
    for path in ("/", "/login", "/docs"):
        answer = limited.get(path, headers=auth(BAD))
        assert answer.status_code == 401, path
        assert answer.json()["error"]["code"] == "unauthenticated"
    assert limited.get("/openapi.json", headers=auth(BAD)).status_code == 429
    assert limited.get("/login").status_code == 200  # no credential: the page still opens
