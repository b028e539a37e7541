"""Settings, and the one place they are read from files and the environment.

Precedence, lowest first::

    defaults  <  shipmate.toml (or [tool.shipmate] in pyproject.toml)  <  SHIPMATE_* environment  <  flags

The configuration file is looked up from the working directory upwards; the first
``shipmate.toml``, or ``pyproject.toml`` with a ``[tool.shipmate]`` table, wins.
``SHIPMATE_CONFIG`` names a file explicitly.  Secrets (tokens, database passwords)
may be written as ``${ENV_VAR}`` in the file and are substituted from the
environment, so the file itself can be committed.

Only adapters (``cli``, ``api``) call :func:`load_settings`; services receive the
resulting :class:`Settings`.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import IO, Any

from shipmate.domain.envrefs import ENV_REF, resolve_env_refs
from shipmate.errors import ConfigError

__all__ = [
    "Settings",
    "default_data_dir",
    "find_config_file",
    "load_settings",
    "read_token_file",
]

#: Top-level tables later features read; accepted here without validation.
SECTIONS = frozenset(
    {"products", "deploy", "gates", "server", "notifications", "releases", "catalog", "dashboard"}
)

_VERSION_PREFIX = re.compile(r"[A-Za-z._/\-]{1,20}")


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know that is not an argument."""

    #: SQLAlchemy-style URL; empty means the default SQLite file in ``data_dir``.
    database_url: str = ""
    #: Where the default database, pid files and logs live.
    data_dir: str = ""
    #: Default product for commands that take ``--product``.
    product: str | None = None
    #: Refuse versions that are not SemVer.
    strict_semver: bool = False
    #: Where ``shipmate version next`` looks for the version, in order.
    version_sources: tuple[str, ...] = (
        "pyproject.toml",
        "package.json",
        "deno.json",
        "deno.jsonc",
        "Cargo.toml",
        "VERSION",
        "git",
    )
    #: What comes off a version given as ``v1.4.0`` (CLI flags, git tags); "" keeps it.
    version_prefix: str = "v"
    #: Remote mode: the shipmate server's base URL and API key.
    url: str | None = None
    token: str | None = None
    #: Remote mode: a file holding the API key (``-``: read it from standard input).
    token_file: str | None = None
    #: Remote mode: how long network errors and 5xx answers are retried, in seconds.
    retry_seconds: float = 30.0
    #: The file the settings came from, if any.
    config_file: str | None = None
    #: Raw tables for later features (``[deploy]``, ``[gates]``, ...).
    sections: Mapping[str, Any] = field(default_factory=dict)
    #: What the command line prints as ``shipmate: warning: ...`` (a literal token in
    #: the config file, a token file others can read).
    warnings: tuple[str, ...] = ()

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.data_dir or default_data_dir()) / 'shipmate.db'}"


_FILE_KEYS = {f.name for f in fields(Settings)} - {"config_file", "sections", "warnings"}
_ENV_KEYS = {
    "SHIPMATE_DATABASE_URL": "database_url",
    "SHIPMATE_DATA_DIR": "data_dir",
    "SHIPMATE_PRODUCT": "product",
    "SHIPMATE_STRICT_SEMVER": "strict_semver",
    "SHIPMATE_VERSION_SOURCES": "version_sources",
    "SHIPMATE_VERSION_PREFIX": "version_prefix",
    "SHIPMATE_URL": "url",
    "SHIPMATE_TOKEN": "token",
    "SHIPMATE_TOKEN_FILE": "token_file",
    "SHIPMATE_RETRY_SECONDS": "retry_seconds",
}


def default_data_dir(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    if env.get("SHIPMATE_DATA_DIR"):
        return env["SHIPMATE_DATA_DIR"]
    base = env.get("XDG_DATA_HOME") or str(
        Path(env.get("HOME", "~")).expanduser() / ".local" / "share"
    )
    return str(Path(base) / "shipmate")


def find_config_file(start: Path, env: Mapping[str, str]) -> tuple[Path, dict[str, Any]] | None:
    """The config file that applies in ``start`` and its ``shipmate`` table."""
    explicit = env.get("SHIPMATE_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"SHIPMATE_CONFIG names {explicit!r}, which does not exist")
        data = _read_toml(path)
        if path.name == "pyproject.toml":
            table = data.get("tool", {}).get("shipmate")
            if not isinstance(table, dict):
                raise ConfigError(
                    f"SHIPMATE_CONFIG names {explicit!r}, which has no [tool.shipmate] table"
                )
            return path, table
        return path, data
    for folder in [start, *start.parents]:
        candidate = folder / "shipmate.toml"
        if candidate.is_file():
            return candidate, _read_toml(candidate)
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            table = _read_toml(pyproject).get("tool", {}).get("shipmate")
            if isinstance(table, dict):
                return pyproject, table
        if (folder / ".git").exists():
            break
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib  # here: most commands run without a config file

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None


def _substitute(value: Any, env: Mapping[str, str], key: str) -> Any:
    return resolve_env_refs(value, env, key) if isinstance(value, str) else value


def _coerce(key: str, value: Any, origin: str) -> Any:
    where = f"{key} (from {origin})"
    if key == "strict_semver":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in (
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
            "",
        ):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{where} must be true or false, not {value!r}", field=key)
    if key == "version_sources":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of file names (or 'git')", field=key)
        return tuple(value)
    if key == "retry_seconds":
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{where} must be a number of seconds, not {value!r}", field=key
            ) from None
        if not 0 <= seconds <= 3600:
            raise ConfigError(f"{where} must be between 0 and 3600 seconds", field=key)
        return seconds
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, not {type(value).__name__}", field=key)
    if key == "version_prefix" and value and not _VERSION_PREFIX.fullmatch(value):
        raise ConfigError(f"{where} must be up to 20 letters, . _ - or /, not {value!r}", field=key)
    return value


def read_token_file(name: str, origin: str, stdin: IO[str] | None = None) -> tuple[str, list[str]]:
    """The API key in the file ``name`` (``-``: standard input), and warnings about it."""
    warnings: list[str] = []
    if name == "-":
        text = (stdin or sys.stdin).readline()
    else:
        path = Path(name).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
            mode = path.stat().st_mode
        except OSError as exc:
            raise ConfigError(
                f"token_file (from {origin}): cannot read {name}: {exc.strerror}",
                field="token_file",
            ) from None
        except UnicodeDecodeError:
            raise ConfigError(
                f"token_file (from {origin}): {name} is not a text file", field="token_file"
            ) from None
        if mode & 0o077:
            warnings.append(
                f"the token file {name} can be read by other users (mode {mode & 0o777:o}); "
                f"chmod 600 {name}"
            )
    token = text.strip()
    if not token or any(c.isspace() for c in token):
        raise ConfigError(
            f"token_file (from {origin}): {name} must hold exactly one API key",
            field="token_file",
        )
    return token, warnings


def _literal_token_warning(path: Path, value: Any) -> list[str]:
    if isinstance(value, str) and value and not ENV_REF.search(value):
        return [
            f"{path} holds a literal API key in 'token': anyone who can read the file can "
            'use it; write token = "${SHIPMATE_TOKEN}" or token_file = "path" instead'
        ]
    return []


def load_settings(
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    stdin: IO[str] | None = None,
) -> Settings:
    """Build :class:`Settings` from defaults, the config file, the environment and flags.

    ``token`` and ``token_file`` are two ways to give the same setting: a layer that
    names either replaces what lower layers said; one layer may not name both."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    warnings: list[str] = []
    found = find_config_file((cwd or Path.cwd()).resolve(), env)
    config_file = None
    sections: dict[str, Any] = {}

    def layer(items: dict[str, Any], origin: str) -> None:
        if "token" in items and "token_file" in items:
            raise ConfigError(
                f"{origin} sets both token and token_file; keep one", field="token_file"
            )
        for key, value in items.items():
            values[key] = value
        if items.get("token_file"):
            values["token"], found_warnings = read_token_file(items["token_file"], origin, stdin)
            warnings.extend(found_warnings)
        elif "token" in items:
            values.pop("token_file", None)

    if found is not None:
        path, table = found
        config_file = str(path)
        from_file: dict[str, Any] = {}
        for key, value in table.items():
            if key in SECTIONS:
                sections[key] = value
                continue
            if key not in _FILE_KEYS:
                known = ", ".join(sorted(_FILE_KEYS | SECTIONS))
                raise ConfigError(f"{path}: unknown setting {key!r} (known: {known})", field=key)
            if key == "token":
                warnings.extend(_literal_token_warning(path, value))
            from_file[key] = _coerce(key, _substitute(value, env, key), str(path))
        layer(from_file, str(path))
    layer(
        {key: _coerce(key, env[name], name) for name, key in _ENV_KEYS.items() if name in env},
        "the environment",
    )
    layer(
        {
            key: _coerce(key, value, "command line")
            for key, value in (overrides or {}).items()
            if value is not None
        },
        "the command line",
    )
    if not values.get("data_dir"):
        values["data_dir"] = default_data_dir(env)
    return replace(
        Settings(),
        config_file=config_file,
        sections=sections,
        warnings=tuple(warnings),
        **values,
    )
