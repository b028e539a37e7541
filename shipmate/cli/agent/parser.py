"""CLI command of the agents feature: ``shipmate agent``.

Only argparse work happens at import; the handler lives in
:mod:`shipmate.cli.agent.handlers` (see shipmate.cli.FEATURES).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from shipmate.cli.parsing import command

__all__ = ["register"]


def register(sub: Any, add_json: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this feature's command to the top-level subparsers."""
    agent = command(
        sub,
        "agent",
        "run the deploy agent of this host: take its runs from a server and execute them",
        description="Connect out to a shipmate server with an agent key, register this host, "
        "wait for the deploy and rollback runs meant for it, and execute them here with the "
        "same engine as shipmate deploy, writing every step to the server's journal. The "
        "token comes from SHIPMATE_TOKEN or --token-file. Docs: docs/agents.md.",
        examples=[
            "shipmate agent --url https://shipmate.example.com --host web-1",
            "shipmate agent --url http://10.0.0.5:8000 --token-file /etc/shipmate/agent.key "
            "--label role=web --data-dir /var/lib/shipmate-agent",
            "shipmate agent --url http://127.0.0.1:8000 --once",
        ],
        handler="shipmate.cli.agent.handlers:cmd_agent",
    )
    agent.add_argument(
        "--url",
        dest="agent_url",
        metavar="URL",
        help="the server's URL (default: [agent] url, SHIPMATE_URL)",
    )
    agent.add_argument(
        "--token-file",
        dest="agent_token_file",
        metavar="PATH",
        help="read the agent key from this file (default: SHIPMATE_TOKEN)",
    )
    agent.add_argument(
        "--host",
        dest="agent_host",
        metavar="HOST",
        help="this host's name; the key must be for it (default: [agent] host, the hostname)",
    )
    agent.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="K=V",
        help="a label of this host, e.g. role=web (repeatable; default: [agent] labels)",
    )
    agent.add_argument(
        "--data-dir",
        dest="agent_data_dir",
        metavar="DIR",
        help="where the agent keeps its instance id and the slots' state "
        "(default: <data dir>/agent)",
    )
    agent.add_argument(
        "--once", action="store_true", help="claim and run at most one run, then exit"
    )
