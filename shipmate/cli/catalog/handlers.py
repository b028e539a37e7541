"""Handlers of ``shipmate products ...`` and ``shipmate envs ...``.

Each goes through the :class:`~shipmate.cli.backends.interface.Backend`, so local and
remote mode print the same: the change as JSON with ``--json``, else one line.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from shipmate.cli.backends.interface import open_backend
from shipmate.config import Settings

__all__ = ["cmd_archive", "cmd_declare", "cmd_list", "cmd_merge", "cmd_rename"]


def _change(args: argparse.Namespace, settings: Settings, action: str, *names: str) -> int:
    backend = open_backend(settings)
    try:
        change = backend.change_catalog(args.catalog_kind, action, *names)
    finally:
        backend.close()
    if args.json:
        print(json.dumps(change, indent=2))
    else:
        print(_describe(change))
    return 0


def _describe(change: dict[str, Any]) -> str:
    kind, name, source = change["kind"], change["name"], change.get("from")
    done = {
        "rename": f"renamed {kind} {source!r} to {name!r}",
        "merge": f"merged {kind} {source!r} into {name!r}",
        "archive": f"archived {kind} {name!r}",
        "unarchive": f"unarchived {kind} {name!r}",
        "declare": f"declared {kind} {name!r}",
    }[change["action"]]
    return done if change["changed"] else f"{done} already: nothing changed"


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    backend = open_backend(settings)
    try:
        items = backend.catalog(args.catalog_kind)
    finally:
        backend.close()
    if args.json:
        print(json.dumps({"items": items}, indent=2))
        return 0
    for item in items:
        extra = f" ({item['kind']})" if "kind" in item else ""
        archived = f"  archived {item['archived_at']}" if item.get("archived_at") else ""
        print(f"{item['name']}{extra}{archived}")
    return 0


def cmd_rename(args: argparse.Namespace, settings: Settings) -> int:
    return _change(args, settings, "rename", args.old, args.new)


def cmd_merge(args: argparse.Namespace, settings: Settings) -> int:
    return _change(args, settings, "merge", args.source, args.target)


def cmd_archive(args: argparse.Namespace, settings: Settings) -> int:
    return _change(args, settings, args.catalog_command, args.name)


def cmd_declare(args: argparse.Namespace, settings: Settings) -> int:
    return _change(args, settings, "declare", args.name)
