"""Fixtures for the agent tests."""

from __future__ import annotations

import pytest

from shipmate.services.context import Context, utcnow


@pytest.fixture
def real_ctx(ctx: Context) -> Context:
    """The ctx fixture with a real clock (leases and keep-warm need time to pass)."""
    ctx.clock = utcnow
    return ctx
