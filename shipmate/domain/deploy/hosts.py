"""Which hosts serve a product's environments, and each host's own deploy table.

These keys live in the product's deploy table beside the engine's keys (the table
local mode reads; :func:`~shipmate.domain.deploy.config.parse_deploy_config` ignores
them)::

    [products.api.deploy]
    hosts = ["web-1"]                    # every environment, unless it says otherwise

    [products.api.deploy.environments.production]
    hosts = "role=web,region=eu"         # a label selector, or a list of host names
    strategy = "rolling"                 # all | rolling (default rolling)
    batch = "34%"                        # rolling only: hosts at a time, or a share (default 1)
    rollback_strategy = "all"            # how a rollback walks them (default all)

    [products.api.deploy.host_overrides.web-2]
    health = { interval = 5 }            # deep-merged over the table for web-2 only

A rollback takes every host at once unless ``rollback_strategy = "rolling"`` says
otherwise (then with the same ``batch``): the version it brings back served on every
host moments ago, and each host walked one at a time is a host left serving the
version being rolled back.

A selector ``k=v[,k=v]`` matches the registered hosts whose labels hold every pair.
:func:`host_table` is one host's merged table; :func:`validate_host_table` parses
it with the engine's parser, and an error names the host and the key where the bad
value was written (``host web-2: products.api.deploy.host_overrides.web-2.health
.interval ...``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shipmate.domain.configtables import as_table
from shipmate.domain.deploy.config import HOST_KEYS, parse_deploy_config
from shipmate.domain.deploy.model import DeployConfig
from shipmate.domain.fleet.rollout import batch_hosts
from shipmate.errors import ConfigError

__all__ = [
    "HOST_KEYS",
    "EnvironmentHosts",
    "HostGroups",
    "HostSpec",
    "batch_size",
    "host_table",
    "parse_host_groups",
    "resolve_hosts",
    "validate_host_table",
]

_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")
_ENV_KEYS = frozenset({"hosts", "strategy", "batch", "rollback_strategy"})

Strategy = Literal["all", "rolling"]


@dataclass(frozen=True)
class HostSpec:
    """Host names, or a label selector (``names`` empty then)."""

    names: tuple[str, ...] = ()
    selector: tuple[tuple[str, str], ...] = ()
    #: The dotted key it was written at (for errors).
    field: str = ""

    def matches(self, labels: Mapping[str, Any]) -> bool:
        return all(str(labels.get(k)) == v for k, v in self.selector)

    def describe(self) -> str:
        if self.names:
            return ", ".join(self.names)
        return ",".join(f"{k}={v}" for k, v in self.selector)


@dataclass(frozen=True)
class EnvironmentHosts:
    """One environment's hosts and how a rollout walks them."""

    hosts: HostSpec | None
    strategy: Strategy = "rolling"
    #: Hosts at a time (an int) or a share of them (a float in (0, 1]).
    batch: int | float = 1
    #: How a rollback walks the hosts (every one at once unless configured).
    rollback_strategy: Strategy = "all"

    def strategy_for(self, kind: str) -> Strategy:
        """The strategy of a run of ``kind`` (``deploy`` or ``rollback``)."""
        return self.rollback_strategy if kind == "rollback" else self.strategy


@dataclass(frozen=True)
class HostGroups:
    prefix: str
    hosts: HostSpec | None
    environments: Mapping[str, EnvironmentHosts]
    overrides: Mapping[str, Mapping[str, Any]]

    def for_environment(self, environment: str) -> EnvironmentHosts:
        env = self.environments.get(environment)
        if env is None:
            return EnvironmentHosts(hosts=self.hosts)
        if env.hosts is None:
            return EnvironmentHosts(self.hosts, env.strategy, env.batch, env.rollback_strategy)
        return env


def _host_spec(value: object, *, field: str) -> HostSpec:
    if isinstance(value, str):
        pairs: list[tuple[str, str]] = []
        for part in value.split(","):
            key, sep, wanted = part.strip().partition("=")
            key, wanted = key.strip(), wanted.strip()
            if not sep or not _LABEL.match(key) or not wanted:
                raise ConfigError(
                    f"{field} is {value!r}: a selector is label=value pairs separated by "
                    'commas (e.g. "role=web,region=eu"), or give a list of host names',
                    field=field,
                )
            pairs.append((key, wanted))
        return HostSpec(selector=tuple(pairs), field=field)
    if not isinstance(value, list | tuple) or not value:
        raise ConfigError(
            f"{field} must be a list of host names or a label selector string "
            '(e.g. ["web-1", "web-2"] or "role=web")',
            field=field,
        )
    names: list[str] = []
    for name in value:
        if not isinstance(name, str) or not _HOST_NAME.match(name):
            raise ConfigError(
                f"{field} holds {name!r}, which is not a host name (letters, digits, '.', "
                "'-', '_')",
                field=field,
            )
        if name in names:
            raise ConfigError(f"{field} names {name} twice", field=field)
        names.append(name)
    return HostSpec(names=tuple(names), field=field)


def _batch(value: object, *, field: str) -> int | float:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ConfigError(f"{field} is {value}; it must be at least 1", field=field)
        return value
    if isinstance(value, str) and value.strip().endswith("%"):
        number = value.strip()[:-1].strip()
        if number.isdigit() and 1 <= int(number) <= 100:
            return int(number) / 100
    raise ConfigError(
        f'{field} must be a number of hosts (e.g. 2) or a share of them (e.g. "34%"), '
        f"not {value!r}",
        field=field,
    )


def _environment(value: object, *, field: str) -> EnvironmentHosts:
    table = as_table(value, field=field)
    for key in table:
        if key not in _ENV_KEYS:
            raise ConfigError(
                f"{field} has no key {key!r}; allowed: {', '.join(sorted(_ENV_KEYS))}",
                field=f"{field}.{key}",
                allowed=sorted(_ENV_KEYS),
            )
    hosts = _host_spec(table["hosts"], field=f"{field}.hosts") if "hosts" in table else None
    strategy = _strategy(table, "strategy", "rolling", field=field)
    rollback = _strategy(table, "rollback_strategy", "all", field=field)
    batch = _batch(table["batch"], field=f"{field}.batch") if "batch" in table else 1
    if strategy == "all" and rollback == "all" and "batch" in table:
        raise ConfigError(
            f"{field}.batch only applies to strategy = rolling (all deploys every host at once)",
            field=f"{field}.batch",
        )
    return EnvironmentHosts(hosts, strategy, batch, rollback)


def _strategy(table: Mapping[str, Any], key: str, default: Strategy, *, field: str) -> Strategy:
    value = table.get(key, default)
    if value not in ("all", "rolling"):
        raise ConfigError(
            f"{field}.{key} is {value!r}; it must be one of: all, rolling",
            field=f"{field}.{key}",
            allowed=["all", "rolling"],
        )
    return "all" if value == "all" else "rolling"


def parse_host_groups(data: object, *, prefix: str) -> HostGroups:
    """The ``hosts``, ``environments`` and ``host_overrides`` keys of a deploy table."""
    table = as_table(data, field=prefix)
    hosts = _host_spec(table["hosts"], field=f"{prefix}.hosts") if "hosts" in table else None
    envs: dict[str, EnvironmentHosts] = {}
    if "environments" in table:
        field = f"{prefix}.environments"
        for name, value in as_table(table["environments"], field=field).items():
            envs[name] = _environment(value, field=f"{field}.{name}")
    overrides: dict[str, Mapping[str, Any]] = {}
    if "host_overrides" in table:
        field = f"{prefix}.host_overrides"
        for name, value in as_table(table["host_overrides"], field=field).items():
            if not _HOST_NAME.match(name):
                raise ConfigError(f"{field}.{name}: not a host name", field=f"{field}.{name}")
            override = as_table(value, field=f"{field}.{name}")
            for key in HOST_KEYS:
                if key in override:
                    raise ConfigError(
                        f"{field}.{name}.{key}: a host override changes how the app is "
                        "deployed, not which hosts serve it",
                        field=f"{field}.{name}.{key}",
                    )
            overrides[name] = override
    return HostGroups(prefix=prefix, hosts=hosts, environments=envs, overrides=overrides)


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def host_table(raw: Mapping[str, Any], host: str) -> dict[str, Any]:
    """The deploy table as ``host`` runs it: its override deep-merged over the table,
    without the keys that say where it runs."""
    base = {k: v for k, v in raw.items() if k not in HOST_KEYS}
    overrides = raw.get("host_overrides")
    override = overrides.get(host) if isinstance(overrides, Mapping) else None
    return _merge(base, override) if isinstance(override, Mapping) else base


def _written_in(override: Mapping[str, Any], path: list[str]) -> bool:
    node: Any = override
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def validate_host_table(raw: Mapping[str, Any], host: str, *, prefix: str) -> DeployConfig:
    """``host``'s merged table parsed; a ConfigError names the host and where the key is."""
    try:
        return parse_deploy_config(host_table(raw, host), prefix=prefix)
    except ConfigError as exc:
        overrides = raw.get("host_overrides")
        override = overrides.get(host) if isinstance(overrides, Mapping) else None
        field = exc.field or prefix
        message = exc.message
        if isinstance(override, Mapping) and field.startswith(prefix + "."):
            path = field[len(prefix) + 1 :].split(".")
            # The deepest prefix of the key that the override wrote names where to look.
            for depth in range(len(path), 0, -1):
                if _written_in(override, path[:depth]):
                    moved = f"{prefix}.host_overrides.{host}.{'.'.join(path)}"
                    message = message.replace(field, moved)
                    field = moved
                    break
        raise ConfigError(f"host {host}: {message}", field=field, host=host) from None


def resolve_hosts(
    groups: HostGroups, environment: str, registered: Mapping[str, Mapping[str, Any]]
) -> tuple[str, ...]:
    """The hosts serving ``environment`` (``registered``: host name -> labels).

    Host names must be registered; a selector must match at least one host.
    """
    spec = groups.for_environment(environment).hosts
    if spec is None:
        raise ConfigError(
            f"no hosts serve {environment}: set {groups.prefix}.hosts (a list of host names "
            f"or a label selector) or {groups.prefix}.environments.{environment}.hosts",
            field=f"{groups.prefix}.hosts",
        )
    if spec.names:
        unknown = [n for n in spec.names if n not in registered]
        if unknown:
            raise ConfigError(
                f"{spec.field} names host(s) no agent has registered: {', '.join(unknown)} "
                "(start shipmate agent there first; see shipmate hosts)",
                field=spec.field,
                hosts=unknown,
            )
        return spec.names
    found = tuple(sorted(name for name, labels in registered.items() if spec.matches(labels)))
    if not found:
        raise ConfigError(
            f"{spec.field} is {spec.describe()!r}, which matches no registered host "
            "(see shipmate hosts for their labels)",
            field=spec.field,
        )
    return found


def batch_size(env: EnvironmentHosts, hosts: int) -> int:
    """How many hosts a rollout changes at a time (:func:`rollout.batch_hosts`, exact)."""
    if env.strategy == "all" or hosts == 0:
        return max(hosts, 1)
    return batch_hosts(env.batch, hosts)
