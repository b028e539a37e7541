"""Tables of the releases feature: filled in by that feature."""

from __future__ import annotations
