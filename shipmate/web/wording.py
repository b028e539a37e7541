"""Words for counts on the pages: ``1 deployment``, ``2 deployments``."""

from __future__ import annotations

__all__ = ["plural"]


def plural(n: int, word: str) -> str:
    """``1 deployment``, ``2 deployments``."""
    return f"{n} {word}" + ("" if n == 1 else "s")
