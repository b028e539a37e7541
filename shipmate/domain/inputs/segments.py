"""Names that travel as one URL path segment: API keys and managed gate rules.

``DELETE /api/v1/keys/{name}`` and ``/api/v1/gates/rules/{name}`` must reach every
key and rule, so a new name may not hold ``/`` or ``\\`` (proxies and clients
split on both) nor be only dots (``.`` and ``..`` are removed from paths by
clients).  Names stored by older versions may; the routes take the rest of the
path as the name, so those stay reachable too (percent-encode the ``/``).
"""

from __future__ import annotations

from shipmate.errors import InvalidInputError

__all__ = ["validate_segment"]


def validate_segment(name: str, *, field: str, what: str) -> str:
    """``name`` if it can be one path segment; InvalidInputError naming ``field``."""
    bad = next((c for c in name if c in "/\\"), None)
    if bad is not None:
        raise InvalidInputError(
            f"{field} {name!r} may not contain {bad!r}: {what} is one segment of a URL path",
            field=field,
        )
    if name and set(name) == {"."}:
        raise InvalidInputError(
            f"{field} {name!r} must not be only dots: {what} is one segment of a URL path",
            field=field,
        )
    return name
