"""What a route reads from the running app: the service context it was started with.

:func:`shipmate.api.app.create_app` puts the context on ``app.state`` when the app
starts; routes take it from the request.
"""

from __future__ import annotations

from fastapi import Request

from shipmate.services.context import Context

__all__ = ["app_context"]


def app_context(request: Request) -> Context:
    """The service context of the app serving ``request``."""
    ctx: Context = request.app.state.ctx
    return ctx
