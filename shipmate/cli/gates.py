"""CLI commands for deployment gates: gates list|add|set-mode|remove|check, approve, unlock.

Only argparse work happens at import; handlers live in other modules and are
named as handler="module:function" strings (see shipmate.cli.FEATURES).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["register"]


def register(sub: Any, add_json: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this feature's commands to the top-level subparsers."""
