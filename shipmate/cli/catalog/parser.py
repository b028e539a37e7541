"""CLI commands for the catalog: ``products`` and ``envs`` (list, rename, merge,
archive, unarchive; ``products declare``), one table per kind (:data:`COMMANDS`).
"""

from __future__ import annotations

from shipmate.cli.parsing import Arg, Command, Group, add_json

__all__ = ["COMMANDS"]

_HANDLERS = "shipmate.cli.catalog.handlers"

#: (group, kind, plural, an example name, a near-miss of it, an archived one)
_GROUPS = (
    ("products", "product", "products", "api", "API", "legacy-web"),
    ("envs", "environment", "environments", "production", "prodution", "sandbox"),
)


def _command(
    name: str, help_text: str, description: str, example: str, function: str, *args: Arg
) -> Command:
    return Command(
        name,
        help_text,
        description=description,
        examples=[example],
        handler=f"{_HANDLERS}:{function}",
        args=[*args, add_json],
    )


def _catalog(group: str, kind: str, plural: str, good: str, typo: str, old: str) -> Group:
    """The ``products`` or ``envs`` group."""
    commands = [
        _command(
            "list",
            f"list {plural}, archived ones included",
            f"Every {kind} with when it was created and whether it is archived.",
            f"shipmate {group} list --json",
            "cmd_list",
        ),
        _command(
            "rename",
            f"rename a {kind}; its history follows",
            f"Rename {kind} OLD to NEW. Deployments, builds and versions follow (they refer to "
            f"it by id). NEW must not exist yet: to join two, use merge. Repeating a rename "
            f"that is done changes nothing.",
            f"shipmate {group} rename {typo} {good}",
            "cmd_rename",
            Arg("old", metavar="OLD", help=f"the {kind}'s current name"),
            Arg("new", metavar="NEW", help="its new name"),
        ),
        _command(
            "merge",
            f"move everything of one {kind} into another",
            "Move FROM's history into INTO in one transaction, then archive FROM. Refused, "
            "changing nothing, when the two cannot be one (docs/concepts.md lists when).",
            f"shipmate {group} merge {typo} {good}",
            "cmd_merge",
            Arg("source", metavar="FROM", help=f"the {kind} to merge away"),
            Arg("target", metavar="INTO", help=f"the {kind} that keeps everything"),
        ),
        *(
            _command(
                action,
                f"{action} a {kind}: {text}",
                f"{action.capitalize()} {kind} NAME: {text}. Its history stays queryable.",
                f"shipmate {group} {action} {old}",
                "cmd_archive",
                Arg("name", metavar="NAME", help=f"the {kind}"),
            )
            for action, text in (
                ("archive", "take it out of the matrix and refuse new writes to it"),
                ("unarchive", "bring an archived one back"),
            )
        ),
    ]
    if kind == "product":
        commands.append(
            _command(
                "declare",
                "create a product explicitly (no near-miss check)",
                "Create product NAME now, even if it is close to a known name: writes that "
                "name it are then accepted like any known name.",
                "shipmate products declare Api-v2",
                "cmd_declare",
                Arg("name", metavar="NAME", help="the product"),
            )
        )
    return Group(
        group,
        f"list, rename, merge and archive {plural}",
        description=f"The {plural} shipmate knows. Rename one (history follows), merge a "
        f"misspelt one into the right one, archive one that is gone (it leaves the "
        f"matrix and stays in history). Rules: docs/concepts.md.",
        examples=[f"shipmate {group} list", f"shipmate {group} merge {typo} {good}"],
        dest="catalog_command",
        commands=commands,
        defaults={"catalog_kind": kind},
    )


COMMANDS = tuple(_catalog(*group) for group in _GROUPS)
