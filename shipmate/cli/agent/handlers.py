"""Handler of ``shipmate agent``: settings in, the worker loop, an exit code out.

Test hook: ``SHIPMATE_TEST_CRASH=after:<step>`` (or ``during:<step>``) kills the
agent with SIGKILL at that step boundary, as for ``shipmate deploy``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipmate.config import Settings, default_data_dir, read_token_file
from shipmate.domain.hostlabels import parse_label, validate_labels
from shipmate.errors import ConfigError

__all__ = ["cmd_agent"]


def _agent_table(settings: Settings) -> Mapping[str, Any]:
    table = settings.sections.get("agent") or {}
    if not isinstance(table, Mapping):
        raise ConfigError("[agent] must be a table", field="agent")
    return table


def _labels(args: argparse.Namespace, table: Mapping[str, Any]) -> dict[str, str]:
    if args.label:
        return validate_labels([parse_label(text, field="--label") for text in args.label])
    labels = table.get("labels") or {}
    if not isinstance(labels, Mapping):
        raise ConfigError("agent.labels must be a table of name = value", field="agent.labels")
    return validate_labels(labels, field="agent.labels")


def _token(args: argparse.Namespace, settings: Settings) -> str:
    if args.agent_token_file:
        token, warnings = read_token_file(args.agent_token_file, "--token-file")
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
        return token
    if settings.token:
        return settings.token
    raise ConfigError(
        "the agent needs its agent key: set SHIPMATE_TOKEN or give --token-file "
        "(create one with: shipmate keys create --scope agent --host HOST --name NAME)",
        field="token",
    )


def cmd_agent(args: argparse.Namespace, settings: Settings) -> int:
    from shipmate.services.agents.worker import AgentOptions, AgentWorker
    from shipmate.services.runs.driver import CrashPoint

    table = _agent_table(settings)
    url = args.agent_url or table.get("url") or settings.url
    if not url:
        raise ConfigError(
            "the agent needs the server's URL: --url, [agent] url or SHIPMATE_URL", field="url"
        )
    host = args.agent_host or table.get("host") or socket.gethostname()
    base = settings.data_dir or default_data_dir()
    data_dir = Path(args.agent_data_dir or Path(base).expanduser() / "agent")
    options = AgentOptions(
        url=str(url),
        token=_token(args, settings),
        data_dir=data_dir.expanduser().resolve(),
        labels=_labels(args, table),
        once=args.once,
        crash=CrashPoint.parse(os.environ.get("SHIPMATE_TEST_CRASH")),
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s shipmate agent: %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    worker = AgentWorker(options, stop=stop)
    found = worker.hello()
    if found != host:
        raise ConfigError(
            f"the agent key is for host {found}, but this agent is host {host}; use that "
            "host's key (or --host)",
            field="host",
        )
    worker.run()
    return 0
