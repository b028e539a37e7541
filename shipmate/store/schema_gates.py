"""Tables of deployment gates (rules, approvals, overrides): filled in by the gates feature."""

from __future__ import annotations
