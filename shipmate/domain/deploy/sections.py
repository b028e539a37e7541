"""Parsers for the ``target``, ``health`` and ``switch`` tables of ``[deploy]``.

Each table has a ``type`` that decides its other keys; a key that belongs to another
type is refused like any unknown key, with the allowed ones listed.  Command
defaults are written here as templates, so they are checked by the same rules as a
user's own.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from shipmate.domain.configtables import ConfigTable, as_table
from shipmate.domain.deploy.model import (
    DEFAULT_HEALTH_URL,
    DEFAULT_NGINX_TEMPLATE,
    CommandProbe,
    CommandSwitchConfig,
    CommandTargetConfig,
    DockerTargetConfig,
    HealthConfig,
    HttpProbe,
    NginxSwitchConfig,
    Placeholders,
    Probe,
    ProcessTargetConfig,
    SwitchConfig,
    SymlinkSwitchConfig,
    TargetConfig,
    TcpProbe,
)
from shipmate.domain.deploy.templates import check_placeholders
from shipmate.errors import ConfigError

__all__ = ["parse_health", "parse_switch", "parse_target"]

_UPSTREAM_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

DOCKER_RUN = (
    "{docker_bin} run --detach --name {name}"
    " --label shipmate.product={product} --label shipmate.slot={slot}"
    " --label shipmate.full_version={full_version}"
    " --publish 127.0.0.1:{port}:{port} {env_args} {run_args} {image} {args}"
)
DOCKER_STOP = "{docker_bin} stop --time {stop_timeout} {name}"
DOCKER_RM = "{docker_bin} rm --force {name}"
DOCKER_STATUS = "{docker_bin} inspect --format {{.State.Running}} {name}"
DOCKER_VERSION = (
    "{docker_bin} inspect --format '{{index .Config.Labels \"shipmate.full_version\"}}' {name}"
)
DOCKER_INSPECT = "{docker_bin} image inspect {image}"


def _typed(data: object, *, field: str, kinds: dict[str, set[str]], default: str | None) -> str:
    """The table's ``type``, checked before its other keys are."""
    table = as_table(data, field=field)
    kind = table.get("type", default)
    if kind is None:
        raise ConfigError(
            f"{field}.type is required; it must be one of: {', '.join(sorted(kinds))}",
            field=f"{field}.type",
        )
    if not isinstance(kind, str) or kind not in kinds:
        raise ConfigError(
            f"{field}.type is {kind!r}; it must be one of: {', '.join(sorted(kinds))}",
            field=f"{field}.type",
            allowed=sorted(kinds),
        )
    return kind


# --------------------------------------------------------------------------- target

_TARGET_KEYS = {
    "process": {"type", "command", "cwd", "env", "artifact", "stop_timeout"},
    "docker": {
        "type",
        "image",
        "run_args",
        "args",
        "env",
        "docker_bin",
        "container_name",
        "stop_timeout",
        "command_timeout",
        "run_command",
        "stop_command",
        "rm_command",
        "status_command",
        "version_command",
        "inspect_command",
        "pull_command",
    },
    "command": {"type", "start", "stop", "status", "artifact_check", "env", "timeout"},
}


def parse_target(data: object, *, field: str, ctx: Placeholders) -> TargetConfig:
    kind = _typed(data, field=field, kinds=_TARGET_KEYS, default=None)
    table = ConfigTable(data, field=field, allowed=_TARGET_KEYS[kind])
    if kind == "process":
        return ProcessTargetConfig(
            command=ctx.command(table, "command", ctx.both),
            cwd=_optional_template(table, "cwd", ctx.both, ctx),
            env=_env(table, ctx),
            artifact=_optional_template(table, "artifact", ctx.release, ctx),
            stop_timeout=table.number("stop_timeout", 10.0),
        )
    if kind == "docker":
        return _parse_docker(table, ctx)
    artifact_check = (
        ctx.command(table, "artifact_check", ctx.release) if table.has("artifact_check") else None
    )
    return CommandTargetConfig(
        start=ctx.command(table, "start", ctx.both),
        stop=ctx.command(table, "stop", ctx.slot),
        status=ctx.command(table, "status", ctx.slot),
        artifact_check=artifact_check,
        env=_env(table, ctx),
        timeout=table.number("timeout", 120.0),
    )


def _parse_docker(table: ConfigTable, ctx: Placeholders) -> DockerTargetConfig:
    image = ctx.template(table, "image", ctx.release)
    container_name = ctx.template(table, "container_name", ctx.slot, default="{product}-{slot}")
    run_args = table.string_list("run_args")
    check_placeholders(run_args, field=table.key("run_args"), allowed=ctx.both, known=ctx.both)
    args = table.string_list("args")
    check_placeholders(args, field=table.key("args"), allowed=ctx.both, known=ctx.both)
    docker = frozenset({"docker_bin"})
    on_slot = ctx.slot | docker | {"name", "stop_timeout"}
    on_image = ctx.release | docker | {"image"}
    pull = ctx.command(table, "pull_command", on_image) if table.has("pull_command") else None
    return DockerTargetConfig(
        image=image,
        run_args=run_args,
        args=args,
        env=_env(table, ctx),
        docker_bin=table.string("docker_bin", "docker"),
        container_name=container_name,
        stop_timeout=table.number("stop_timeout", 10.0),
        command_timeout=table.number("command_timeout", 300.0),
        run_command=ctx.command(
            table,
            "run_command",
            ctx.both | docker | {"name", "image"},
            default=DOCKER_RUN,
            lists=frozenset({"env_args", "run_args", "args"}),
        ),
        stop_command=ctx.command(table, "stop_command", on_slot, default=DOCKER_STOP),
        rm_command=ctx.command(table, "rm_command", on_slot, default=DOCKER_RM),
        status_command=ctx.command(table, "status_command", on_slot, default=DOCKER_STATUS),
        version_command=ctx.command(table, "version_command", on_slot, default=DOCKER_VERSION),
        inspect_command=ctx.command(table, "inspect_command", on_image, default=DOCKER_INSPECT),
        pull_command=pull,
    )


def _optional_template(
    table: ConfigTable, name: str, allowed: frozenset[str], ctx: Placeholders
) -> str | None:
    value = table.optional_string(name)
    if value is not None:
        check_placeholders(value, field=table.key(name), allowed=allowed, known=ctx.both)
    return value


def _env(table: ConfigTable, ctx: Placeholders) -> dict[str, str]:
    env = table.string_table("env")
    for name, value in env.items():
        key = f"{table.key('env')}.{name}"
        if not _ENV_NAME.match(name):
            raise ConfigError(
                f"{key}: an environment variable name must be letters, digits and _",
                field=key,
            )
        check_placeholders(value, field=key, allowed=ctx.both, known=ctx.both)
    return env


# --------------------------------------------------------------------------- health

_COMMON_HEALTH = {"type", "attempts", "interval", "deadline", "timeout"}
_HEALTH_KEYS = {
    "http": _COMMON_HEALTH | {"url", "expected_status", "body_contains"},
    "tcp": _COMMON_HEALTH | {"host", "port"},
    "command": _COMMON_HEALTH | {"command"},
}


def parse_health(data: object, *, field: str, ctx: Placeholders) -> HealthConfig:
    """A health check table; ``type`` defaults to http on the slot's port."""
    kind = _typed(data, field=field, kinds=_HEALTH_KEYS, default="http")
    table = ConfigTable(data, field=field, allowed=_HEALTH_KEYS[kind])
    probe: Probe
    if kind == "http":
        url = ctx.template(table, "url", ctx.both, default=DEFAULT_HEALTH_URL)
        if urlsplit(url).scheme not in ("http", "https") or "//" not in url:
            raise ConfigError(
                f"{table.key('url')} must be an http:// or https:// URL, not {url!r}",
                field=table.key("url"),
            )
        body = table.optional_string("body_contains")
        if body is not None:
            check_placeholders(
                body, field=table.key("body_contains"), allowed=ctx.both, known=ctx.both
            )
        probe = HttpProbe(
            url=url,
            expected_status=table.integer("expected_status", 200, minimum=100, maximum=599),
            body_contains=body,
            timeout=table.number("timeout", 2.0),
        )
    elif kind == "tcp":
        probe = TcpProbe(
            host=ctx.template(table, "host", ctx.both, default="127.0.0.1"),
            port=_port_template(table, ctx),
            timeout=table.number("timeout", 2.0),
        )
    else:
        probe = CommandProbe(
            command=ctx.command(table, "command", ctx.both),
            timeout=table.number("timeout", 10.0),
        )
    attempts = table.integer("attempts", 20, minimum=1)
    interval = table.number("interval", 3.0, allow_minimum=True)
    deadline = table.number("deadline", attempts * (interval + probe.timeout))
    return HealthConfig(probe=probe, attempts=attempts, interval=interval, deadline=deadline)


def _port_template(table: ConfigTable, ctx: Placeholders) -> str:
    value = table.raw("port", "{port}")
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= 65535:
            raise ConfigError(
                f"{table.key('port')} must be from 1 to 65535, not {value}",
                field=table.key("port"),
            )
        return str(value)
    return ctx.template(table, "port", ctx.both, default="{port}")


# --------------------------------------------------------------------------- switch

_SWITCH_KEYS = {
    "nginx": {
        "type",
        "upstream_file",
        "upstream_name",
        "template",
        "nginx_bin",
        "nginx_conf",
        "test_command",
        "reload_command",
        "command_timeout",
    },
    "symlink": {"type", "link", "releases_dir", "target_template"},
    "command": {"type", "command", "timeout"},
}


def parse_switch(data: object, *, field: str, ctx: Placeholders) -> SwitchConfig:
    kind = _typed(data, field=field, kinds=_SWITCH_KEYS, default=None)
    table = ConfigTable(data, field=field, allowed=_SWITCH_KEYS[kind])
    if kind == "nginx":
        return _parse_nginx(table, ctx)
    if kind == "symlink":
        return SymlinkSwitchConfig(
            link=ctx.template(table, "link", ctx.static),
            releases_dir=ctx.template(table, "releases_dir", ctx.static),
            target_template=ctx.template(
                table,
                "target_template",
                ctx.both | {"releases_dir"},
                default="{releases_dir}/{version}",
            ),
        )
    return CommandSwitchConfig(
        command=ctx.command(table, "command", ctx.both),
        timeout=table.number("timeout", 60.0),
    )


def _parse_nginx(table: ConfigTable, ctx: Placeholders) -> NginxSwitchConfig:
    name = table.string("upstream_name")
    if not _UPSTREAM_NAME.match(name):
        raise ConfigError(
            f"{table.key('upstream_name')} {name!r} may contain only letters, digits and . _ -",
            field=table.key("upstream_name"),
        )
    template = ctx.template(
        table, "template", ctx.both | {"upstream_name"}, default=DEFAULT_NGINX_TEMPLATE
    )
    conf = table.optional_string("nginx_conf")
    with_conf = " -c {nginx_conf}" if conf is not None else ""
    tools = ctx.static | {"nginx_bin", "upstream_file"} | ({"nginx_conf"} if conf else set())
    return NginxSwitchConfig(
        upstream_file=ctx.template(table, "upstream_file", ctx.static),
        upstream_name=name,
        template=template,
        nginx_bin=table.string("nginx_bin", "nginx"),
        nginx_conf=conf,
        test_command=ctx.command(
            table, "test_command", tools, default="{nginx_bin} -t" + with_conf
        ),
        reload_command=ctx.command(
            table, "reload_command", tools, default="{nginx_bin} -s reload" + with_conf
        ),
        command_timeout=table.number("command_timeout", 30.0),
    )
