"""CLI commands for the catalog: ``products`` and ``envs`` (list, rename, merge,
archive, unarchive; ``products declare``).

Only argparse work happens at import; handlers live in
:mod:`shipmate.cli.catalog.handlers` (see shipmate.cli.FEATURES).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from shipmate.cli.parsing import command
from shipmate.cli.parsing import group as parser_group

__all__ = ["register"]

_HANDLERS = "shipmate.cli.catalog.handlers"

#: (group, kind, plural, an example name, a near-miss of it, an archived one)
_GROUPS = (
    ("products", "product", "products", "api", "API", "legacy-web"),
    ("envs", "environment", "environments", "production", "prodution", "sandbox"),
)


def _command(
    sub: Any, name: str, help_text: str, description: str, example: str, function: str
) -> argparse.ArgumentParser:
    return command(
        sub,
        name,
        help_text,
        description=description,
        examples=[example],
        handler=f"{_HANDLERS}:{function}",
    )


def register(sub: Any, add_json: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the ``products`` and ``envs`` groups to the top-level subparsers."""
    for group, kind, plural, good, typo, old in _GROUPS:
        top = command(
            sub,
            group,
            f"list, rename, merge and archive {plural}",
            description=f"The {plural} shipmate knows. Rename one (history follows), merge a "
            f"misspelt one into the right one, archive one that is gone (it leaves the "
            f"matrix and stays in history). Rules: docs/concepts.md.",
            examples=[f"shipmate {group} list", f"shipmate {group} merge {typo} {good}"],
        )
        top.set_defaults(catalog_kind=kind)
        gsub = parser_group(top, "catalog_command")
        listing = _command(
            gsub,
            "list",
            f"list {plural}, archived ones included",
            f"Every {kind} with when it was created and whether it is archived.",
            f"shipmate {group} list --json",
            "cmd_list",
        )
        add_json(listing)
        rename = _command(
            gsub,
            "rename",
            f"rename a {kind}; its history follows",
            f"Rename {kind} OLD to NEW. Deployments, builds and versions follow (they refer to "
            f"it by id). NEW must not exist yet: to join two, use merge. Repeating a rename "
            f"that is done changes nothing.",
            f"shipmate {group} rename {typo} {good}",
            "cmd_rename",
        )
        rename.add_argument("old", metavar="OLD", help=f"the {kind}'s current name")
        rename.add_argument("new", metavar="NEW", help="its new name")
        add_json(rename)
        merge = _command(
            gsub,
            "merge",
            f"move everything of one {kind} into another",
            "Move FROM's history into INTO in one transaction, then archive FROM. Refused, "
            "changing nothing, when the two cannot be one (docs/concepts.md lists when).",
            f"shipmate {group} merge {typo} {good}",
            "cmd_merge",
        )
        merge.add_argument("source", metavar="FROM", help=f"the {kind} to merge away")
        merge.add_argument("target", metavar="INTO", help=f"the {kind} that keeps everything")
        add_json(merge)
        for action, text in (
            ("archive", "take it out of the matrix and refuse new writes to it"),
            ("unarchive", "bring an archived one back"),
        ):
            p = _command(
                gsub,
                action,
                f"{action} a {kind}: {text}",
                f"{action.capitalize()} {kind} NAME: {text}. Its history stays queryable.",
                f"shipmate {group} {action} {old}",
                "cmd_archive",
            )
            p.add_argument("name", metavar="NAME", help=f"the {kind}")
            add_json(p)
        if kind == "product":
            declare = _command(
                gsub,
                "declare",
                "create a product explicitly (no near-miss check)",
                "Create product NAME now, even if it is close to a known name: writes that "
                "name it are then accepted like any known name.",
                "shipmate products declare Api-v2",
                "cmd_declare",
            )
            declare.add_argument("name", metavar="NAME", help="the product")
            add_json(declare)
