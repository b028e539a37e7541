"""Running the command the parser chose: settings from the flags, then its handler.

Every parser sets ``handler="module:function"``; the module is imported only now,
and the function is called as ``handler(args, settings)``.  Database errors become
one :class:`~shipmate.errors.StoreError`, and no error message shows a secret.

Nothing here imports SQLAlchemy: a command that never opened the database (remote
mode, ``version show``, ``--help``) has no database error to convert, so the
conversion looks SQLAlchemy up in :data:`sys.modules` only when an error arrives.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from typing import Any

from shipmate.cli.arguments import strip_version_arguments
from shipmate.config import Settings, load_settings
from shipmate.errors import StoreError

__all__ = ["dispatch"]


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        "database_url": args.database_url,
        "url": args.url,
        "token": args.token,
        "token_file": args.token_file,
    }
    if getattr(args, "strict_semver", False):
        overrides["strict_semver"] = True
    settings = load_settings(overrides=overrides)
    warnings = list(settings.warnings)
    if args.token:
        warnings.insert(
            0,
            "--token puts the API key in the process list and the shell history; "
            "use --token-file PATH (or - for standard input) or SHIPMATE_TOKEN_FILE",
        )
    for warning in warnings:
        print(f"shipmate: warning: {warning}", file=sys.stderr)
    return settings


def _secrets(settings: Settings) -> list[str | None]:
    """What no error message may show: the token and the passwords in the URLs."""
    from shipmate.domain.redaction import secrets_of_url

    return [
        settings.token,
        *secrets_of_url(settings.database_url),
        *secrets_of_url(settings.url),
    ]


def _is_database_error(exc: BaseException) -> bool:
    """A DBAPIError of SQLAlchemy, told without importing it: if SQLAlchemy is not
    loaded, nothing can have raised one."""
    loaded = sys.modules.get("sqlalchemy.exc")
    dbapi_error = getattr(loaded, "DBAPIError", None)
    return dbapi_error is not None and isinstance(exc, dbapi_error)


def dispatch(args: argparse.Namespace) -> int:
    from shipmate.errors import ShipmateError

    settings = _settings(args)
    strip_version_arguments(args, settings)
    module, _, function = args.handler.partition(":")
    handler: Callable[[argparse.Namespace, Settings], int] = getattr(
        importlib.import_module(module), function
    )
    try:
        return handler(args, settings)
    except ShipmateError as exc:
        from shipmate.domain.redaction import redact

        exc.message = redact(exc.message, _secrets(settings))
        exc.args = (exc.message,)
        raise
    except Exception as exc:
        if not _is_database_error(exc):
            raise
        orig = getattr(exc, "orig", exc)
        from shipmate.domain.redaction import redact

        raise StoreError(f"database error: {redact(str(orig), _secrets(settings))}") from None
