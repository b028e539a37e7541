"""Tables of the runs feature: filled in by that feature."""

from __future__ import annotations
