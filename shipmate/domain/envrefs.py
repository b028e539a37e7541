"""``${NAME}`` references to environment variables in configuration values.

The settings file, notification rules and drain checks may name a secret by
reference instead of holding it; a reference to a variable that is not set is a
:class:`~shipmate.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from shipmate.errors import ConfigError

__all__ = ["ENV_REF", "resolve_env_refs"]

#: One reference: ``${`` a variable name ``}``.
ENV_REF: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def resolve_env_refs(value: str, env: Mapping[str, str], field: str) -> str:
    """``value`` with each ``${NAME}`` replaced by ``env[NAME]``; ConfigError on
    ``field`` for a variable ``env`` does not hold."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(
                f"{field} refers to ${{{name}}}, which is not set in the environment",
                field=field,
            )
        return env[name]

    return ENV_REF.sub(substitute, value)
