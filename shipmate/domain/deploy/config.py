"""A product's ``[deploy]`` table, validated up front into frozen values.

Example::

    [deploy]
    keep_warm = 30                        # seconds the old slot stays up after a switch
    app_version_env = "DBOS__APPVERSION"  # set to the full version; false turns it off
    public_url = "http://127.0.0.1:8080"  # where traffic arrives through the switch

    [deploy.slots]                        # at least two; default blue = 8001, green = 8002
    blue = 8001
    green = 8002

    [deploy.target]                       # process | docker | command
    type = "process"
    command = "python -m shipmate.demo.app --port {port}"

    [deploy.health]                       # http | tcp | command
    type = "http"
    url = "http://127.0.0.1:{port}/healthz"
    attempts = 20
    interval = 3

    [deploy.switch]                       # nginx | symlink | command
    type = "nginx"
    upstream_file = "/etc/nginx/conf.d/api-upstream.conf"
    upstream_name = "api"

    [deploy.post_switch_health]           # same keys as [deploy.health]; false = none
    url = "http://127.0.0.1:8080/healthz"

Rules:

* Unknown keys are errors that list the alloKeys by type (defaults in brackets; "cmd" is a command template, a string split
like a shell would, or a list of strings):

* target ``process``: command (cmd), cwd, env (table), artifact (a path that must
  exist), stop_timeout [10].
* target ``docker``: image (e.g. ``ghcr.io/acme/api:{version}``), run_args (list of
  docker options), args (list, after the image), env (table), docker_bin
  [docker], container_name [``{product}-{slot}``], stop_timeout [10],
  command_timeout [300], run_command / stop_command / rm_command / status_command
  / version_command / inspect_command (cmd, with defaults), pull_command (cmd,
  none by default).  Extra placeholders: ``{docker_bin}``, ``{name}``, ``{image}``,
  ``{stop_timeout}``; in run_command the list placeholders ``{env_args}``,
  ``{run_args}``, ``{args}``.
* target ``command``: start, stop, status, artifact_check (cmd), env, timeout [120].
* health ``http``: url [``http://127.0.0.1:{port}/``], expected_status [200],
  body_contains, timeout [2]; ``tcp``: host [127.0.0.1], port [``{port}``], timeout
  [2]; ``command``: command (cmd), timeout [10].  All: attempts [20], interval [3],
  deadline [attempts × (interval + timeout)].
* switch ``nginx``: upstream_file, upstream_name, template [``upstream
  {upstream_name} { server 127.0.0.1:{port}; }``], nginx_bin [nginx], nginx_conf
  (passed as ``-c``), test_command [``{nginx_bin} -t``], reload_command
  [``{nginx_bin} -s reload``], command_timeout [30].  ``symlink``: link,
  releases_dir, target_template [``{releases_dir}/{version}``].  ``command``:
  command (cmd), timeout [60].

wed ones; every error names the exact
  key (``deploy.health.interval``).
* Templates use placeholders (see :mod:`shipmate.domain.deploy.templates`).  Which ones a key
  may use depends on when it is rendered: ``{version}`` and ``{full_version}`` need a
  release, ``{slot}`` and ``{port}`` a slot; ``{product}``, ``{state_dir}`` and every
  slot's ``{<slot>_port}`` are always there.  A stop or status command has no release,
  so it cannot use ``{version}``.  An unknown placeholder is reported here, before
  anything runs.
* ``post_switch_health`` defaults to the health check aimed through the switch: the
  http check's path on ``public_url``.  Without ``public_url`` it defaults to the
  health check itself (the new slot checked again after the switch).
* The health deadline defaults to ``attempts × (interval + timeout)``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import urlsplit

from shipmate.domain.configtables import ConfigTable, as_table
from shipmate.domain.deploy.model import (
    DEFAULT_APP_VERSION_ENV,
    DEFAULT_SLOTS,
    DeployConfig,
    HealthConfig,
    HttpProbe,
    Placeholders,
    Slot,
)
from shipmate.domain.deploy.sections import parse_health, parse_switch, parse_target
from shipmate.errors import ConfigError

__all__ = ["HOST_KEYS", "parse_deploy_config"]

#: The keys that say which hosts run the table (:mod:`shipmate.domain.deploy.hosts`
#: reads them; the engine does not).
HOST_KEYS = ("hosts", "environments", "host_overrides")
#: Keys other features read from the same table.
_NOT_ENGINE = ("drain", *HOST_KEYS)

_SLOT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_deploy_config(data: object, *, prefix: str = "deploy") -> DeployConfig:
    """Validate a ``[deploy]`` table (as read from TOML) into a :class:`DeployConfig`.

    ``prefix`` is the table's dotted name in the file, used in error messages
    (``products.api.deploy`` when it lives under a product).
    """
    if isinstance(data, dict) and any(key in data for key in _NOT_ENGINE):
        # The drain table is the draining feature's (shipmate.engine.drain.config validates
        # it); the host keys are remote mode's (shipmate.domain.deploy.hosts).
        data = {k: v for k, v in data.items() if k not in _NOT_ENGINE}
    table = ConfigTable(
        data,
        field=prefix,
        allowed={
            "slots",
            "target",
            "health",
            "switch",
            "keep_warm",
            "post_switch_health",
            "app_version_env",
            "public_url",
        },
    )
    slots = _parse_slots(table)
    ports = {f"{slot.name}_port" for slot in slots}
    ctx = Placeholders(frozenset(ports))
    if not table.has("target"):
        raise ConfigError(
            f"{table.key('target')} is required: a table with type = process, docker or command",
            field=table.key("target"),
        )
    if not table.has("switch"):
        raise ConfigError(
            f"{table.key('switch')} is required: a table with type = nginx, symlink or command",
            field=table.key("switch"),
        )
    target = parse_target(table.raw("target"), field=table.key("target"), ctx=ctx)
    health = parse_health(table.raw("health", {}), field=table.key("health"), ctx=ctx)
    switch = parse_switch(table.raw("switch"), field=table.key("switch"), ctx=ctx)
    public_url = _parse_public_url(table)
    post = _parse_post_switch(table, health, public_url, ctx)
    return DeployConfig(
        slots=slots,
        target=target,
        health=health,
        switch=switch,
        post_switch_health=post,
        keep_warm=table.number("keep_warm", 30.0, allow_minimum=True),
        app_version_env=_parse_app_version_env(table),
        public_url=public_url,
    )


def _parse_slots(table: ConfigTable) -> tuple[Slot, ...]:
    if not table.has("slots"):
        return tuple(Slot(name, port) for name, port in DEFAULT_SLOTS)
    key = table.key("slots")
    raw = as_table(table.raw("slots"), field=key)
    slots: list[Slot] = []
    seen_ports: dict[int, str] = {}
    for name, port in raw.items():
        field_name = f"{key}.{name}"
        if not _SLOT_NAME.match(name):
            raise ConfigError(
                f"{field_name}: a slot name must be lowercase letters, digits and _, "
                "starting with a letter (it is used as the placeholder {" + name + "_port})",
                field=field_name,
            )
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ConfigError(
                f"{field_name} must be a TCP port number from 1 to 65535, not {port!r}",
                field=field_name,
            )
        if port in seen_ports:
            raise ConfigError(
                f"{field_name} uses port {port}, which slot {seen_ports[port]!r} already uses",
                field=field_name,
            )
        seen_ports[port] = name
        slots.append(Slot(name, port))
    if len(slots) < 2:
        raise ConfigError(
            f"{key} must name at least two slots (e.g. blue = 8001 and green = 8002)",
            field=key,
        )
    return tuple(slots)


def _parse_public_url(table: ConfigTable) -> str | None:
    url = table.optional_string("public_url")
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{table.key('public_url')} must be an http:// or https:// URL, not {url!r}",
            field=table.key("public_url"),
        )
    return url


def _parse_app_version_env(table: ConfigTable) -> str | None:
    key = table.key("app_version_env")
    value = table.raw("app_version_env", DEFAULT_APP_VERSION_ENV)
    if value is False:
        return None
    if value is True:
        return DEFAULT_APP_VERSION_ENV
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        raise ConfigError(
            f"{key} must be an environment variable name (letters, digits, _) or false, "
            f"not {value!r}",
            field=key,
        )
    if value.startswith("SHIPMATE_") or value == "PORT":
        raise ConfigError(
            f"{key} {value!r} would overwrite a variable shipmate sets itself", field=key
        )
    return value


def _parse_post_switch(
    table: ConfigTable, health: HealthConfig, public_url: str | None, ctx: Placeholders
) -> HealthConfig | None:
    key = table.key("post_switch_health")
    value = table.raw("post_switch_health")
    if value is False:
        return None
    if value is True:
        value = None
    if value is not None:
        return parse_health(value, field=key, ctx=ctx)
    if public_url is None:
        return health
    if isinstance(health.probe, HttpProbe):
        parts = urlsplit(health.probe.url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        url = public_url.rstrip("/") + path
        return replace(health, probe=replace(health.probe, url=url))
    probe = HttpProbe(url=public_url)
    return replace(health, probe=probe, deadline=health.attempts * (health.interval + 2.0))
