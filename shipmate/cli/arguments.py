"""What several command groups read the same way: the product a command is for, the
``.deployment-version.json`` that ``version next`` wrote, and the refusal of a
database-only command in remote mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shipmate.config import Settings
from shipmate.errors import InvalidInputError

__all__ = ["VERSION_FILE", "database_only", "product_of", "read_version_file"]

#: Where ``shipmate version next`` writes the version it allocated.
VERSION_FILE = Path(".deployment-version.json")


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
