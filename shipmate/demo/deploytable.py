"""A blue-green setup of the sample app behind a private nginx, for tests, benchmarks and the demo.

:func:`demoapp_deploy_table` returns a ``[deploy]`` table (as TOML would give it)
that runs ``python -m shipmate.demo.app`` in two loopback slots with the ``process``
target and switches a :class:`~shipmate.demo.nginx.NginxServer` with the
``nginx`` switch.  Timings are short, so a deploy takes about a second.
:func:`served_version` asks nginx which version answers.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipmate.demo.nginx import NginxServer

__all__ = ["demoapp_deploy_table", "exiting_app_table", "served_version", "toml_table"]

_ROOT = str(Path(__file__).resolve().parents[2])


def demoapp_deploy_table(
    nginx: NginxServer,
    *,
    blue_port: int,
    green_port: int,
    keep_warm: float = 0.5,
    env: Mapping[str, str] | None = None,
    health: Mapping[str, Any] | None = None,
    post_switch_health: Mapping[str, Any] | bool | None = None,
    artifact: str | None = None,
) -> dict[str, Any]:
    """A ``[deploy]`` table for the sample app in slots ``blue``/``green`` behind ``nginx``."""
    target: dict[str, Any] = {
        "type": "process",
        "command": [sys.executable, "-m", "shipmate.demo.app", "--port", "{port}"],
        "env": {"PYTHONPATH": _ROOT, "DEMOAPP_QUIET": "1", **dict(env or {})},
        "stop_timeout": 5,
    }
    if artifact is not None:
        target["artifact"] = artifact
    table: dict[str, Any] = {
        "keep_warm": keep_warm,
        "public_url": nginx.url,
        "slots": {"blue": blue_port, "green": green_port},
        "target": target,
        "health": dict(
            health
            or {
                "type": "http",
                "url": "http://127.0.0.1:{port}/healthz",
                "attempts": 100,
                "interval": 0.05,
                "timeout": 2,
            }
        ),
        "switch": nginx.switch_table(),
    }
    if post_switch_health is not None:
        table["post_switch_health"] = (
            post_switch_health if isinstance(post_switch_health, bool) else dict(post_switch_health)
        )
    return table


def exiting_app_table(blue_port: int, green_port: int) -> dict[str, Any]:
    """A ``[deploy]`` table whose app exits at once: its runs fail at their start step
    after a few quick steps (for what happens around runs: claims, their timing)."""
    return {
        "keep_warm": 0,
        "slots": {"blue": blue_port, "green": green_port},
        "target": {"type": "process", "command": [sys.executable, "-c", "pass"]},
        "health": {"type": "tcp", "port": "{port}", "attempts": 1, "interval": 0.01},
        "switch": {"type": "command", "command": "true"},
    }


def served_version(nginx: NginxServer, timeout: float = 5.0) -> str | None:
    """The full version nginx's upstream answers with, or None when it does not answer 200."""
    try:
        status, body = nginx.get("/version", timeout=timeout)
    except OSError:
        return None
    if status != 200:
        return None
    try:
        return str(json.loads(body)["full_version"])
    except (ValueError, KeyError):
        return None


def toml_table(name: str, table: Mapping[str, Any]) -> str:
    """``table`` as TOML under ``[name]`` (enough for the tables above)."""
    scalars: list[str] = []
    subtables: list[str] = []
    for key, value in table.items():
        if isinstance(value, Mapping):
            subtables.append(toml_table(f"{name}.{key}", value))
        else:
            scalars.append(f"{key} = {_toml_value(value)}")
    head = f"[{name}]\n" + "".join(line + "\n" for line in scalars)
    return head + "".join("\n" + sub for sub in subtables)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
