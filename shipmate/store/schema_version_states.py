"""Tables of version states (active, draining, drained, retired): filled in by the draining feature."""

from __future__ import annotations
