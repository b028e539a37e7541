"""The [deploy] table: defaults, every validation error naming its key, templates."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shipmate.domain.deploy.config import parse_deploy_config
from shipmate.domain.deploy.model import (
    CommandProbe,
    CommandSwitchConfig,
    CommandTargetConfig,
    DockerTargetConfig,
    HttpProbe,
    NginxSwitchConfig,
    ProcessTargetConfig,
    Slot,
    SymlinkSwitchConfig,
    TcpProbe,
    template_values,
)
from shipmate.domain.deploy.templates import render, render_argv, split_command
from shipmate.errors import ConfigError

BASE: dict[str, Any] = {
    "target": {"type": "process", "command": "python -m shipmate.demo.app --port {port}"},
    "switch": {"type": "nginx", "upstream_file": "/etc/nginx/api.conf", "upstream_name": "api"},
}


def with_(**changes: Any) -> dict[str, Any]:
    """BASE with dotted keys set (value None deletes the key)."""
    table = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        node = table
        for part in path:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return table


def error_of(table: Any, **kw: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_deploy_config(table, **kw)
    return caught.value


# ------------------------------------------------------------------ defaults


def test_minimal_table_gets_seed_002_defaults() -> None:
    config = parse_deploy_config(BASE)
    assert config.slots == (Slot("blue", 8001), Slot("green", 8002))
    assert config.keep_warm == 30.0
    assert config.app_version_env == "DBOS__APPVERSION"
    assert config.health.attempts == 20
    assert config.health.interval == 3.0
    assert isinstance(config.health.probe, HttpProbe)
    assert config.health.probe.url == "http://127.0.0.1:{port}/"
    assert config.health.probe.timeout == 2.0
    assert config.health.probe.expected_status == 200
    # attempts × (interval + per-try timeout)
    assert config.health.deadline == 20 * (3.0 + 2.0)
    assert isinstance(config.target, ProcessTargetConfig)
    assert config.target.command == ("python", "-m", "shipmate.demo.app", "--port", "{port}")
    assert config.target.stop_timeout == 10.0
    assert isinstance(config.switch, NginxSwitchConfig)
    assert config.switch.test_command == ("{nginx_bin}", "-t")
    assert config.switch.reload_command == ("{nginx_bin}", "-s", "reload")
    assert "upstream {upstream_name} {" in config.switch.template
    # without public_url the post-switch check re-checks the new slot
    assert config.post_switch_health == config.health


def test_nginx_conf_is_passed_as_c() -> None:
    config = parse_deploy_config(with_(switch__nginx_conf="/srv/nginx.conf"))
    assert isinstance(config.switch, NginxSwitchConfig)
    assert config.switch.test_command == ("{nginx_bin}", "-t", "-c", "{nginx_conf}")
    assert config.switch.reload_command == ("{nginx_bin}", "-s", "reload", "-c", "{nginx_conf}")


def test_post_switch_health_goes_through_public_url() -> None:
    table = with_(
        public_url="http://127.0.0.1:8080/",
        health={"url": "http://127.0.0.1:{port}/healthz?deep=1", "attempts": 5, "interval": 1},
    )
    config = parse_deploy_config(table)
    post = config.post_switch_health
    assert post is not None and isinstance(post.probe, HttpProbe)
    assert post.probe.url == "http://127.0.0.1:8080/healthz?deep=1"
    assert post.attempts == 5


def test_post_switch_health_false_turns_it_off_and_a_table_replaces_it() -> None:
    assert parse_deploy_config(with_(post_switch_health=False)).post_switch_health is None
    config = parse_deploy_config(with_(post_switch_health={"type": "tcp", "port": 8080}))
    assert config.post_switch_health is not None
    assert config.post_switch_health.probe == TcpProbe(host="127.0.0.1", port="8080")


def test_explicit_slots_and_app_version_env() -> None:
    config = parse_deploy_config(
        with_(slots={"a": 9001, "b": 9002, "c": 9003}, app_version_env="APP_VERSION")
    )
    assert config.slot_names == ("a", "b", "c")
    assert config.app_version_env == "APP_VERSION"
    assert parse_deploy_config(with_(app_version_env=False)).app_version_env is None


def test_docker_target_defaults() -> None:
    config = parse_deploy_config(
        with_(
            target={"type": "docker", "image": "ghcr.io/acme/api:{version}", "run_args": ["--rm"]}
        )
    )
    target = config.target
    assert isinstance(target, DockerTargetConfig)
    assert target.image == "ghcr.io/acme/api:{version}"
    assert target.run_args == ("--rm",)
    assert target.inspect_command == ("{docker_bin}", "image", "inspect", "{image}")
    assert "{env_args}" in target.run_command and "{run_args}" in target.run_command
    assert target.status_command[-2:] == ("{{.State.Running}}", "{name}")
    assert target.container_name == "{product}-{slot}"


def test_command_target_and_probes_and_switches() -> None:
    config = parse_deploy_config(
        {
            "target": {
                "type": "command",
                "start": ["systemctl", "start", "api@{slot}"],
                "stop": "systemctl stop api@{slot}",
                "status": "systemctl is-active --quiet api@{slot}",
                "artifact_check": "test -d /srv/api/{version}",
            },
            "health": {"type": "command", "command": "curl -fsS localhost:{port}"},
            "switch": {"type": "symlink", "link": "/srv/api/current", "releases_dir": "/srv/api"},
        }
    )
    assert isinstance(config.target, CommandTargetConfig)
    assert config.target.start == ("systemctl", "start", "api@{slot}")
    assert config.target.artifact_check == ("test", "-d", "/srv/api/{version}")
    assert config.health.probe == CommandProbe(command=("curl", "-fsS", "localhost:{port}"))
    assert config.health.deadline == 20 * (3.0 + 10.0)
    assert config.switch == SymlinkSwitchConfig(link="/srv/api/current", releases_dir="/srv/api")
    other = parse_deploy_config(with_(switch={"type": "command", "command": "route {slot}"}))
    assert other.switch == CommandSwitchConfig(command=("route", "{slot}"))


# ------------------------------------------------------------------ errors name their key


@pytest.mark.parametrize(
    ("table", "field", "words"),
    [
        (with_(colour="blue"), "deploy.colour", "allowed: app_version_env, health"),
        (with_(target=None), "deploy.target", "required"),
        (with_(switch=None), "deploy.switch", "required"),
        (with_(target="process"), "deploy.target", "must be a table"),
        (with_(target__type="vm"), "deploy.target.type", "docker, process"),
        (with_(target__type=None), "deploy.target.type", "required"),
        (with_(target__image="x"), "deploy.target.image", "allowed: artifact, command"),
        (with_(target__command=None), "deploy.target.command", "required"),
        (with_(target__command=""), "deploy.target.command", "must name a command"),
        (with_(target__command="run 'unbalanced"), "deploy.target.command", "cannot be split"),
        (with_(target__command=["ok", 3]), "deploy.target.command", "list of strings"),
        (with_(target__command="app {verison}"), "deploy.target.command", "{verison}"),
        (with_(target__stop_timeout=0), "deploy.target.stop_timeout", "more than 0"),
        (with_(target__stop_timeout="10s"), "deploy.target.stop_timeout", "must be a number"),
        (with_(target__env={"BAD-NAME": "x"}), "deploy.target.env.BAD-NAME", "letters"),
        (with_(target__env={"A": "{nope}"}), "deploy.target.env.A", "{nope}"),
        (with_(target__env={"A": True}), "deploy.target.env.A", "string or a number"),
        (with_(target__artifact="/srv/{slot}"), "deploy.target.artifact", "no value"),
        (with_(health__intervall=3), "deploy.health.intervall", "allowed: attempts"),
        (with_(health__command="x"), "deploy.health.command", "allowed:"),
        (with_(health__type="grpc"), "deploy.health.type", "command, http, tcp"),
        (with_(health__interval=-1), "deploy.health.interval", "at least 0"),
        (with_(health__interval=True), "deploy.health.interval", "boolean"),
        (with_(health__attempts=0), "deploy.health.attempts", "at least 1"),
        (with_(health__attempts=2.5), "deploy.health.attempts", "whole number"),
        (with_(health__deadline=0), "deploy.health.deadline", "more than 0"),
        (with_(health__timeout=float("nan")), "deploy.health.timeout", "finite"),
        (with_(health__expected_status=700), "deploy.health.expected_status", "100 to 599"),
        (with_(health__url="ftp://x/{port}"), "deploy.health.url", "http://"),
        (with_(health__url="http://x:{prot}/"), "deploy.health.url", "{prot}"),
        (with_(health__body_contains="{what}"), "deploy.health.body_contains", "{what}"),
        (with_(health={"type": "tcp", "port": 70000}), "deploy.health.port", "65535"),
        (with_(health={"type": "command"}), "deploy.health.command", "required"),
        (with_(switch__type="haproxy"), "deploy.switch.type", "nginx, symlink"),
        (with_(switch__upstream_name=None), "deploy.switch.upstream_name", "required"),
        (with_(switch__upstream_name="my api"), "deploy.switch.upstream_name", "letters"),
        (with_(switch__upstream_file="/x/{version}"), "deploy.switch.upstream_file", "no value"),
        (with_(switch__template="server {porrt};"), "deploy.switch.template", "{porrt}"),
        (
            with_(switch__test_command="nginx -t -c {nginx_conf}"),
            "deploy.switch.test_command",
            "{nginx_conf}",
        ),
        (with_(switch__link="x"), "deploy.switch.link", "allowed:"),
        (with_(keep_warm=-5), "deploy.keep_warm", "at least 0"),
        (with_(app_version_env="has space"), "deploy.app_version_env", "variable name"),
        (with_(app_version_env="SHIPMATE_VERSION"), "deploy.app_version_env", "overwrite"),
        (with_(public_url="localhost:8080"), "deploy.public_url", "http://"),
        (with_(post_switch_health={"urll": "x"}), "deploy.post_switch_health.urll", "allowed"),
        (with_(slots={"blue": 8001}), "deploy.slots", "at least two"),
        (with_(slots={"Blue": 1, "green": 2}), "deploy.slots.Blue", "lowercase"),
        (with_(slots={"blue": 0, "green": 2}), "deploy.slots.blue", "1 to 65535"),
        (with_(slots={"blue": True, "green": 2}), "deploy.slots.blue", "1 to 65535"),
        (with_(slots={"blue": 80, "green": 80}), "deploy.slots.green", "already uses"),
        (with_(slots=[8001, 8002]), "deploy.slots", "must be a table"),
    ],
)
def test_every_error_names_the_key(table: Any, field: str, words: str) -> None:
    error = error_of(table)
    assert error.field == field
    assert words in error.message
    assert field.split(".")[-1] in error.message or field in error.message


def test_stop_command_cannot_use_version_and_says_why() -> None:
    table = with_(
        target={"type": "command", "start": "s {version}", "stop": "x {version}", "status": "y"}
    )
    error = error_of(table)
    assert error.field == "deploy.target.stop"
    assert "{version}, which has no value when this key is used" in error.message
    assert error.details["placeholder"] == "version"


def test_unknown_placeholder_lists_the_available_ones() -> None:
    error = error_of(with_(target__command="run --port {prot}"))
    assert error.details["placeholder"] == "prot"
    assert "{blue_port}" in error.message and "{full_version}" in error.message
    assert "state_dir" in error.details["allowed"]


def test_list_placeholder_must_stand_alone() -> None:
    table = with_(
        target={
            "type": "docker",
            "image": "img:{version}",
            "run_command": "docker run --opt={run_args} {image}",
        }
    )
    error = error_of(table)
    assert error.field == "deploy.target.run_command"
    assert "whole argument" in error.message


def test_image_cannot_use_slot() -> None:
    error = error_of(with_(target={"type": "docker", "image": "img:{slot}"}))
    assert error.field == "deploy.target.image"


def test_prefix_names_the_table_where_it_lives() -> None:
    error = error_of(with_(health__interval=-1), prefix="products.api.deploy")
    assert error.field == "products.api.deploy.health.interval"


def test_not_a_table_at_all() -> None:
    error = error_of(["deploy"])
    assert error.field == "deploy"


def test_slot_ports_are_placeholders() -> None:
    config = parse_deploy_config(
        with_(switch={"type": "command", "command": "route {blue_port} {green_port} {port}"})
    )
    assert isinstance(config.switch, CommandSwitchConfig)
    error = error_of(with_(switch={"type": "command", "command": "route {red_port}"}))
    assert error.details["placeholder"] == "red_port"


# ------------------------------------------------------------------ templates


def test_render_fills_placeholders_and_leaves_other_braces() -> None:
    text = render(
        "upstream {name} {\n  server 127.0.0.1:{port};\n}", {"name": "api", "port": "8001"}
    )
    assert text == "upstream api {\n  server 127.0.0.1:8001;\n}"
    assert render("{{.State.Running}} {{version}} {version}", {"version": "1.0"}) == (
        "{{.State.Running}} {version} 1.0"
    )


def test_render_missing_value_is_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        render("x {version}", {})
    assert caught.value.details["placeholder"] == "version"


def test_render_argv_expands_list_placeholders_and_keeps_values_whole() -> None:
    argv = render_argv(
        ("docker", "run", "{env_args}", "--name", "{name}", "{image}"),
        {"name": "api blue", "image": "img:1"},
        {"env_args": ["--env", "A", "--env", "B"]},
    )
    assert argv == ["docker", "run", "--env", "A", "--env", "B", "--name", "api blue", "img:1"]
    assert split_command("a 'b c' d", field="f") == ("a", "b c", "d")


def test_template_values_include_slot_ports() -> None:
    config = parse_deploy_config(BASE)
    values = template_values(
        config.slots,
        product="api",
        state_dir="/var/lib/shipmate",
        slot="green",
        version="1.4.0",
        full_version="1.4.0+build.7",
    )
    assert values == {
        "product": "api",
        "state_dir": "/var/lib/shipmate",
        "blue_port": "8001",
        "green_port": "8002",
        "slot": "green",
        "port": "8002",
        "version": "1.4.0",
        "full_version": "1.4.0+build.7",
    }
    with pytest.raises(ConfigError):
        template_values(config.slots, product="api", state_dir="/s", slot="red")


def test_tcp_health_port_defaults_to_the_slot_port() -> None:
    from shipmate.domain.deploy.config import parse_deploy_config

    config = parse_deploy_config(
        {
            "target": {"type": "process", "command": "app --port {port}"},
            "health": {"type": "tcp"},
            "switch": {"type": "symlink", "link": "/tmp/l", "releases_dir": "/tmp/r"},
        }
    )
    assert config.health.probe.port == "{port}"  # type: ignore[union-attr]
