"""Which hosts serve an environment, and each host's merged deploy table."""

from __future__ import annotations

from typing import Any

import pytest

from shipmate.domain.deploy.config import parse_deploy_config
from shipmate.domain.deploy.hosts import (
    EnvironmentHosts,
    batch_size,
    host_table,
    parse_host_groups,
    resolve_hosts,
    validate_host_table,
)
from shipmate.errors import ConfigError

PREFIX = "products.api.deploy"


def table(**extra: Any) -> dict[str, Any]:
    return {
        "target": {"type": "process", "command": "app --port {port}"},
        "switch": {"type": "nginx", "upstream_file": "/etc/nginx/a.conf", "upstream_name": "a"},
        "health": {"type": "http", "interval": 2, "attempts": 3},
        **extra,
    }


REGISTERED = {
    "web-1": {"role": "web", "region": "eu"},
    "web-2": {"role": "web", "region": "us"},
    "db-1": {"role": "db", "region": "eu"},
}


def config_error(fn: Any, *args: Any, **kw: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        fn(*args, **kw)
    return caught.value


def test_the_engine_parser_accepts_the_host_keys() -> None:
    raw = table(
        hosts=["web-1"],
        environments={"production": {"hosts": "role=web", "strategy": "all"}},
        host_overrides={"web-2": {"health": {"interval": 5}}},
    )
    assert parse_deploy_config(raw, prefix=PREFIX).health.interval == 2


def test_hosts_for_every_environment_and_per_environment() -> None:
    groups = parse_host_groups(
        table(
            hosts=["web-1"],
            environments={
                "production": {"hosts": "role=web", "strategy": "rolling", "batch": "50%"},
                "staging": {"strategy": "all"},
            },
        ),
        prefix=PREFIX,
    )
    assert resolve_hosts(groups, "dev", REGISTERED) == ("web-1",)
    assert resolve_hosts(groups, "production", REGISTERED) == ("web-1", "web-2")
    staging = groups.for_environment("staging")
    assert staging.strategy == "all" and staging.hosts is not None
    assert resolve_hosts(groups, "staging", REGISTERED) == ("web-1",)
    production = groups.for_environment("production")
    assert production.batch == 0.5 and batch_size(production, 3) == 2
    assert groups.for_environment("dev").strategy == "rolling"


def test_a_selector_matches_every_pair() -> None:
    groups = parse_host_groups(table(hosts="role=web, region=eu"), prefix=PREFIX)
    assert resolve_hosts(groups, "production", REGISTERED) == ("web-1",)
    none = parse_host_groups(table(hosts="role=cache"), prefix=PREFIX)
    err = config_error(resolve_hosts, none, "production", REGISTERED)
    assert err.field == f"{PREFIX}.hosts" and "matches no registered host" in err.message


def test_unknown_host_names_are_named() -> None:
    groups = parse_host_groups(
        table(environments={"production": {"hosts": ["web-1", "web-9", "web-8"]}}), prefix=PREFIX
    )
    err = config_error(resolve_hosts, groups, "production", REGISTERED)
    assert err.field == f"{PREFIX}.environments.production.hosts"
    assert "web-9, web-8" in err.message and err.details["hosts"] == ["web-9", "web-8"]


def test_no_hosts_names_the_key_to_set() -> None:
    groups = parse_host_groups(table(), prefix=PREFIX)
    err = config_error(resolve_hosts, groups, "production", REGISTERED)
    assert err.field == f"{PREFIX}.hosts"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"hosts": []}, f"{PREFIX}.hosts"),
        ({"hosts": ["web 1"]}, f"{PREFIX}.hosts"),
        ({"hosts": ["a", "a"]}, f"{PREFIX}.hosts"),
        ({"hosts": "role"}, f"{PREFIX}.hosts"),
        ({"hosts": 3}, f"{PREFIX}.hosts"),
        ({"environments": {"p": {"strategy": "canary"}}}, f"{PREFIX}.environments.p.strategy"),
        ({"environments": {"p": {"batch": 0}}}, f"{PREFIX}.environments.p.batch"),
        ({"environments": {"p": {"batch": "0%"}}}, f"{PREFIX}.environments.p.batch"),
        ({"environments": {"p": {"batch": "x%"}}}, f"{PREFIX}.environments.p.batch"),
        ({"environments": {"p": {"batch": True}}}, f"{PREFIX}.environments.p.batch"),
        (
            {"environments": {"p": {"strategy": "all", "batch": 2}}},
            f"{PREFIX}.environments.p.batch",
        ),
        ({"environments": {"p": {"hostz": ["a"]}}}, f"{PREFIX}.environments.p.hostz"),
        ({"environments": {"p": 1}}, f"{PREFIX}.environments.p"),
        ({"host_overrides": {"web-1": {"hosts": ["x"]}}}, f"{PREFIX}.host_overrides.web-1.hosts"),
        ({"host_overrides": {"web-1": 3}}, f"{PREFIX}.host_overrides.web-1"),
    ],
)
def test_bad_host_keys_name_their_key(extra: dict[str, Any], field: str) -> None:
    assert config_error(parse_host_groups, table(**extra), prefix=PREFIX).field == field


def test_an_override_is_deep_merged_for_its_host_only() -> None:
    raw = table(hosts=["web-1", "web-2"], host_overrides={"web-2": {"health": {"interval": 5}}})
    merged = host_table(raw, "web-2")
    assert merged["health"] == {"type": "http", "interval": 5, "attempts": 3}
    assert "hosts" not in merged and "host_overrides" not in merged
    assert validate_host_table(raw, "web-2", prefix=PREFIX).health.interval == 5
    assert validate_host_table(raw, "web-1", prefix=PREFIX).health.interval == 2


def test_a_bad_override_names_the_host_and_the_override_key() -> None:
    raw = table(host_overrides={"web-2": {"health": {"interval": -1}}})
    err = config_error(validate_host_table, raw, "web-2", prefix=PREFIX)
    key = f"{PREFIX}.host_overrides.web-2.health.interval"
    assert err.field == key
    assert err.message.startswith(f"host web-2: {key} ")
    # The same table is fine for a host without the override.
    validate_host_table(raw, "web-1", prefix=PREFIX)


def test_a_bad_base_key_names_the_host_and_the_base_key() -> None:
    raw = table(keep_warm=-3, host_overrides={"web-2": {"health": {"interval": 5}}})
    err = config_error(validate_host_table, raw, "web-2", prefix=PREFIX)
    assert err.field == f"{PREFIX}.keep_warm" and err.message.startswith("host web-2: ")


def test_batch_sizes() -> None:
    assert batch_size(EnvironmentHosts(None, "all"), 5) == 5
    assert batch_size(EnvironmentHosts(None, "rolling", 2), 5) == 2
    assert batch_size(EnvironmentHosts(None, "rolling", 9), 5) == 5
    assert batch_size(EnvironmentHosts(None, "rolling", 0.34), 3) == 2
    assert batch_size(EnvironmentHosts(None, "rolling", 0.01), 3) == 1


def test_a_rollback_takes_every_host_at_once_unless_configured() -> None:
    groups = parse_host_groups(
        table(
            hosts=["web-1", "web-2"],
            environments={
                "production": {"strategy": "rolling", "batch": 1},
                "staging": {"rollback_strategy": "rolling", "batch": 1},
                "qa": {"strategy": "all", "rollback_strategy": "rolling", "batch": 1},
            },
        ),
        prefix=PREFIX,
    )
    production = groups.for_environment("production")
    assert (production.strategy_for("deploy"), production.strategy_for("rollback")) == (
        "rolling",
        "all",
    )
    staging = groups.for_environment("staging")
    assert (staging.strategy_for("deploy"), staging.strategy_for("rollback")) == (
        "rolling",
        "rolling",
    )
    qa = groups.for_environment("qa")
    assert (qa.strategy_for("deploy"), qa.strategy_for("rollback"), qa.batch) == (
        "all",
        "rolling",
        1,
    )
    assert groups.for_environment("dev").strategy_for("rollback") == "all"


def test_a_bad_rollback_strategy_names_its_key() -> None:
    bad = table(environments={"p": {"rollback_strategy": "canary"}})
    err = config_error(parse_host_groups, bad, prefix=PREFIX)
    assert err.field == f"{PREFIX}.environments.p.rollback_strategy"
    assert "all, rolling" in err.message
