"""The values a validated ``[deploy]`` table turns into, and placeholder scopes.

These are plain frozen dataclasses; :mod:`shipmate.domain.deploy.config` builds them
from TOML; callers import the values from here.

Placeholder scopes: when a template is rendered decides what it may use.
``{product}``, ``{state_dir}`` and every slot's ``{<slot>_port}`` are always there;
``{version}`` and ``{full_version}`` need a release; ``{slot}`` and ``{port}`` need a
slot.  A stop or status command runs without a release, so it cannot use
``{version}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from shipmate.domain.configtables import ConfigTable
from shipmate.domain.deploy.templates import check_placeholders, split_command
from shipmate.errors import ConfigError

__all__ = [
    "DEFAULT_APP_VERSION_ENV",
    "DEFAULT_NGINX_TEMPLATE",
    "Command",
    "CommandProbe",
    "CommandSwitchConfig",
    "CommandTargetConfig",
    "DeployConfig",
    "DockerTargetConfig",
    "HealthConfig",
    "HttpProbe",
    "NginxSwitchConfig",
    "Placeholders",
    "Probe",
    "ProcessTargetConfig",
    "Slot",
    "SwitchConfig",
    "SymlinkSwitchConfig",
    "TargetConfig",
    "TcpProbe",
    "template_values",
]

Command = tuple[str, ...]


DEFAULT_APP_VERSION_ENV = "DBOS__APPVERSION"
DEFAULT_SLOTS = (("blue", 8001), ("green", 8002))
DEFAULT_NGINX_TEMPLATE = "upstream {upstream_name} {\n    server 127.0.0.1:{port};\n}\n"
DEFAULT_HEALTH_URL = "http://127.0.0.1:{port}/"

_STATIC = frozenset({"product", "state_dir"})
_WITH_RELEASE = _STATIC | {"version", "full_version"}
_WITH_SLOT = _STATIC | {"slot", "port"}
_WITH_BOTH = _WITH_RELEASE | _WITH_SLOT


@dataclass(frozen=True)
class Slot:
    name: str
    port: int


@dataclass(frozen=True)
class ProcessTargetConfig:
    """A supervised background process per slot."""

    command: Command
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    artifact: str | None = None
    stop_timeout: float = 10.0
    type: Literal["process"] = "process"


@dataclass(frozen=True)
class DockerTargetConfig:
    """One container per slot, named ``container_name``; commands are templates."""

    image: str
    run_args: Command = ()
    args: Command = ()
    env: Mapping[str, str] = field(default_factory=dict)
    docker_bin: str = "docker"
    container_name: str = "{product}-{slot}"
    stop_timeout: float = 10.0
    command_timeout: float = 300.0
    run_command: Command = ()
    stop_command: Command = ()
    rm_command: Command = ()
    status_command: Command = ()
    version_command: Command = ()
    inspect_command: Command = ()
    pull_command: Command | None = None
    type: Literal["docker"] = "docker"


@dataclass(frozen=True)
class CommandTargetConfig:
    """User commands (systemd units, remote scripts); exit status 0 means success."""

    start: Command
    stop: Command
    status: Command
    artifact_check: Command | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 120.0
    type: Literal["command"] = "command"


TargetConfig = ProcessTargetConfig | DockerTargetConfig | CommandTargetConfig


@dataclass(frozen=True)
class HttpProbe:
    url: str
    expected_status: int = 200
    body_contains: str | None = None
    timeout: float = 2.0
    type: Literal["http"] = "http"


@dataclass(frozen=True)
class TcpProbe:
    host: str = "127.0.0.1"
    port: str = "{port}"
    timeout: float = 2.0
    type: Literal["tcp"] = "tcp"


@dataclass(frozen=True)
class CommandProbe:
    command: Command
    timeout: float = 10.0
    type: Literal["command"] = "command"


Probe = HttpProbe | TcpProbe | CommandProbe


@dataclass(frozen=True)
class HealthConfig:
    probe: Probe
    attempts: int = 20
    interval: float = 3.0
    deadline: float = 0.0


@dataclass(frozen=True)
class NginxSwitchConfig:
    upstream_file: str
    upstream_name: str
    template: str = DEFAULT_NGINX_TEMPLATE
    nginx_bin: str = "nginx"
    nginx_conf: str | None = None
    test_command: Command = ()
    reload_command: Command = ()
    command_timeout: float = 30.0
    type: Literal["nginx"] = "nginx"


@dataclass(frozen=True)
class SymlinkSwitchConfig:
    link: str
    releases_dir: str
    target_template: str = "{releases_dir}/{version}"
    type: Literal["symlink"] = "symlink"


@dataclass(frozen=True)
class CommandSwitchConfig:
    command: Command
    timeout: float = 60.0
    type: Literal["command"] = "command"


SwitchConfig = NginxSwitchConfig | SymlinkSwitchConfig | CommandSwitchConfig


@dataclass(frozen=True)
class DeployConfig:
    slots: tuple[Slot, ...]
    target: TargetConfig
    health: HealthConfig
    switch: SwitchConfig
    post_switch_health: HealthConfig | None
    keep_warm: float = 30.0
    app_version_env: str | None = DEFAULT_APP_VERSION_ENV
    public_url: str | None = None

    @property
    def slot_names(self) -> tuple[str, ...]:
        return tuple(slot.name for slot in self.slots)

    def slot(self, name: str) -> Slot:
        for slot in self.slots:
            if slot.name == name:
                return slot
        raise ConfigError(
            f"there is no slot {name!r}; the slots are: {', '.join(self.slot_names)}",
            field="deploy.slots",
        )


def template_values(
    slots: Sequence[Slot],
    *,
    product: str,
    state_dir: str,
    slot: str | None = None,
    version: str | None = None,
    full_version: str | None = None,
) -> dict[str, str]:
    """The placeholder values for one rendering; only what is known is included."""
    values = {"product": product, "state_dir": state_dir}
    for each in slots:
        values[f"{each.name}_port"] = str(each.port)
    if slot is not None:
        ports = {each.name: each.port for each in slots}
        if slot not in ports:
            raise ConfigError(
                f"there is no slot {slot!r}; the slots are: {', '.join(ports)}", field="slot"
            )
        values["slot"] = slot
        values["port"] = str(ports[slot])
    if version is not None:
        values["version"] = version
        values["full_version"] = full_version or version
    return values


@dataclass(frozen=True)
class Placeholders:
    """Which placeholders each kind of key may use, given the slots' port names."""

    ports: frozenset[str]

    @property
    def static(self) -> frozenset[str]:
        return _STATIC | self.ports

    @property
    def release(self) -> frozenset[str]:
        return _WITH_RELEASE | self.ports

    @property
    def slot(self) -> frozenset[str]:
        return _WITH_SLOT | self.ports

    @property
    def both(self) -> frozenset[str]:
        return _WITH_BOTH | self.ports

    def template(
        self,
        table: ConfigTable,
        name: str,
        allowed: frozenset[str],
        default: str | None = None,
    ) -> str:
        """A string template, checked; required unless ``default`` is given."""
        value = table.string(name) if default is None else table.string(name, default)
        check_placeholders(value, field=table.key(name), allowed=allowed, known=self.both)
        return value

    def command(
        self,
        table: ConfigTable,
        name: str,
        allowed: frozenset[str],
        *,
        default: str | None = None,
        lists: frozenset[str] = frozenset(),
    ) -> Command:
        """A command template (string or list), checked; required unless defaulted."""
        if table.has(name):
            argv = split_command(table.raw(name), field=table.key(name))
        elif default is not None:
            argv = split_command(default, field=table.key(name))
        else:
            raise ConfigError(f"{table.key(name)} is required", field=table.key(name))
        check_placeholders(
            argv, field=table.key(name), allowed=allowed, lists=lists, known=self.both
        )
        return argv
