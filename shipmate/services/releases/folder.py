"""A versions folder's files stay inside it: symlinks that leave it are refused.

``shipmate release sync`` reads every version's actions from a folder (layout in
:mod:`shipmate.services.releases.actions`).  A symlink in it may point elsewhere inside
the folder (a shared script); one whose real location is outside the folder, such
as ``2.0.0/up/001.sh -> /etc/shadow`` or ``2.0.0 -> ../../other``, would turn a
file nobody reviewed into an action body (or leak it through the API), so the
whole sync is refused, before anything is written, with the entry named.
"""

from __future__ import annotations

from pathlib import Path

from shipmate.errors import InvalidInputError

__all__ = ["require_inside"]


def require_inside(real_root: Path, path: Path, shown: str) -> Path:
    """``path`` when its real location (every symlink followed) is inside
    ``real_root`` (already resolved); InvalidInputError naming ``shown`` otherwise."""
    try:
        real = path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise InvalidInputError(f"{shown} cannot be resolved: {exc}", field="dir") from None
    if real != real_root and not real.is_relative_to(real_root):
        raise InvalidInputError(
            f"{shown} is a symlink to {str(real)!r}, outside the versions folder; "
            "only files inside the folder are read",
            field="dir",
        )
    return path
