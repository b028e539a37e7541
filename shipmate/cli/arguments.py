"""What several command groups read the same way: the product a command is for, the
versions the flags name (``v1.4.0`` means ``1.4.0``), the moments ``--since``/``--until``
name, the ``.deployment-version.json`` that ``version next`` wrote, and the refusal of a
database-only command in remote mode."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shipmate.config import Settings
from shipmate.errors import InvalidInputError

__all__ = [
    "VERSION_ARGUMENTS",
    "VERSION_FILE",
    "database_only",
    "fields_of",
    "local_only",
    "moment_of",
    "product_of",
    "read_version_file",
    "strip_version_arguments",
]

#: Where ``shipmate version next`` writes the version it allocated.
VERSION_FILE = Path(".deployment-version.json")

#: The parsed arguments (``dest``) that hold a version or a full version, in any command:
#: ``--version`` (``semver``; ``version`` for the history filters), ``rollback --to``,
#: ``plan``/``release apply --to`` (``target``), ``--predecessor``, ``mark-rollback REF``.
VERSION_ARGUMENTS = ("semver", "version", "to", "target", "predecessor", "ref")


def strip_version_arguments(args: argparse.Namespace, settings: Settings) -> None:
    """Take the ``version_prefix`` off every version flag: ``--version v1.4.0`` is ``1.4.0``."""
    from shipmate.domain.versionprefix import strip_version_prefix

    for name in VERSION_ARGUMENTS:
        value = getattr(args, name, None)
        if isinstance(value, str):
            setattr(args, name, strip_version_prefix(value, settings.version_prefix))


def product_of(value: str | None, settings: Settings, fallback: Any = None) -> str:
    """``--product``, else the configured product, else ``fallback``; refused when none."""
    product = value or settings.product or fallback
    if not product:
        raise InvalidInputError(
            "product is required: pass --product, set SHIPMATE_PRODUCT, "
            'or put product = "..." in shipmate.toml',
            field="product",
        )
    return str(product)


def fields_of(args: argparse.Namespace, flags: Mapping[str, str]) -> dict[str, Any]:
    """``{field: value of its flag}`` for a table of request fields and the flags
    (``dest`` names) they come from."""
    return {field: getattr(args, flag) for field, flag in flags.items()}


def local_only(settings: Settings, command: str, does: str, otherwise: str = " instead") -> None:
    """Refuse remote mode for a command that ``does`` its work on this host's database."""
    if settings.url:
        raise InvalidInputError(
            f"shipmate {command} {does}; unset SHIPMATE_URL / --url and give the database "
            f"(SHIPMATE_DATABASE_URL){otherwise}",
            field="url",
        )


def moment_of(value: str | None, flag: str) -> datetime | None:
    """``--since``/``--until``: a date, an RFC 3339 time or a duration ago (``7d``)."""
    if value is None:
        return None
    from shipmate.domain.timewindow import parse_moment

    return parse_moment(value, field=flag, now=datetime.now(UTC))


def read_version_file(path: Path = VERSION_FILE) -> dict[str, Any]:
    """The version file ``version next`` wrote, or ``{}`` when there is none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"{path} is not readable JSON: {exc}", field=str(path)) from None
    return data if isinstance(data, dict) else {}


def database_only(settings: Settings, command: str, instead: str) -> None:
    """Refuse ``command`` in remote mode (SHIPMATE_URL or --url set): it works on a
    database, and answering for the local default one would mislead."""
    if settings.url:
        raise InvalidInputError(
            f"shipmate {command} works on a database, not a server, and SHIPMATE_URL / --url "
            f"is set; unset it and give the database (SHIPMATE_DATABASE_URL){instead}",
            field="url",
        )
