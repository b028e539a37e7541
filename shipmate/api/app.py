"""``create_app``: the ASGI application ``shipmate serve`` runs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from shipmate import __version__
from shipmate.api.errors import error_headers, install_error_handlers, public_store_error
from shipmate.api.middleware import (
    BodyLimitMiddleware,
    CollapseSlashesMiddleware,
    HeadAsGetMiddleware,
)
from shipmate.api.ratelimit import AuthFailureLimiter, AuthFailureLimitMiddleware
from shipmate.api.routes import agent as agent_routes
from shipmate.api.routes import bloqr, v1, versioner
from shipmate.api.routes import catalog as catalog_routes
from shipmate.api.routes import docs as docs_routes
from shipmate.api.routes import draining as draining_routes
from shipmate.api.routes import gates as gates_routes
from shipmate.api.routes import insights as insights_routes
from shipmate.api.routes import notify as notify_routes
from shipmate.api.routes import releases as releases_routes
from shipmate.api.routes import runs as runs_routes
from shipmate.api.settings import ServerSettings
from shipmate.config import Settings, load_settings
from shipmate.domain.redaction import redact
from shipmate.errors import RETRY_AFTER_SECONDS, DatabaseUnavailableError, StoreError
from shipmate.services.auth.keys import VerifiedKeys
from shipmate.services.context import Context, open_context
from shipmate.services.schema import SCHEMA_HEAD, schema_revision
from shipmate.web import login, pages
from shipmate.web.linking import read_link_settings

__all__ = ["app_from_env", "create_app"]

log = logging.getLogger("shipmate.api")


def create_app(
    settings: Settings, *, ctx: Context | None = None, server: ServerSettings | None = None
) -> FastAPI:
    server = server or ServerSettings.from_table(settings.sections.get("server", {}))
    # Checked now, so a bad [dashboard.links] stops `serve` instead of failing pages.
    read_link_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = ctx is None
        app.state.ctx = ctx or open_context(settings)
        # Notifications leave from a background worker reading the event log, never
        # from a request; it runs only when rules are configured.
        from shipmate.services.notify.worker import start_notification_worker

        app.state.notification_worker = None
        try:
            app.state.notification_worker = start_notification_worker(app.state.ctx)
            runs_routes.start_run_recovery(app)  # mark runs a dead process left (never resumes)
            draining_routes.start_drain_watcher(app)  # retire versions once they drained
            yield
        finally:
            draining_routes.stop_drain_watcher(app)
            runs_routes.stop_run_recovery(app)
            if app.state.notification_worker is not None:
                app.state.notification_worker.stop()
            if owned:
                app.state.ctx.close()

    app = FastAPI(
        title="shipmate",
        version=__version__,
        description="Deployment versioning and release: builds, deployments, history, the matrix. "
        "Also speaks bloqr's /api/deployments and Versioner's event endpoints.",
        lifespan=lifespan,
        # Served by docs_routes instead: behind anonymous_read, without a CDN.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.server = server
    app.state.verified_keys = VerifiedKeys(server.key_cache_seconds)
    limiter = AuthFailureLimiter(server.auth_failure_limit, server.auth_failure_window_seconds)
    app.state.auth_limiter = limiter
    if ctx is not None:
        app.state.ctx = ctx
    install_error_handlers(app)
    app.include_router(v1.router)
    app.include_router(bloqr.router)
    app.include_router(versioner.make_router(server.versioner_base))
    for feature in (
        agent_routes,
        catalog_routes,
        draining_routes,
        gates_routes,
        insights_routes,
        notify_routes,
        releases_routes,
        runs_routes,
        docs_routes,
        login,
        pages,
    ):
        app.include_router(feature.router)

    @app.get("/healthz", summary="Alive", tags=["health"])
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", summary="Database reachable and migrated", tags=["health"])
    def readyz(request: Request) -> JSONResponse:
        """Public, so it says only *that* the server is not ready; *why* (which may
        name the database's host) goes to the server's log: once per outage, by the
        engine (shipmate.store.outage), not once per probe."""
        try:
            # Committed, so that a probe is also what notices the database is back.
            with request.app.state.ctx.engine.connect() as conn, conn.begin():
                conn.execute(text("SELECT 1"))
                revision = schema_revision(conn)
        except DatabaseUnavailableError as exc:
            return _unready("the database is unreachable", public_store_error(exc))
        except Exception as exc:
            log.warning("readyz: the database is unreachable: %s", redact(str(exc)))
            return _unready("the database is unreachable", public_store_error(StoreError("")))
        if revision != SCHEMA_HEAD:
            log.warning("readyz: the schema is at %s, expected %s", revision, SCHEMA_HEAD)
            behind = StoreError(
                f"the database schema is not up to date; try again in {RETRY_AFTER_SECONDS} s",
                retry_after=RETRY_AFTER_SECONDS,
            )
            return _unready("the database schema is not up to date", behind)
        return JSONResponse({"status": "ok", "schema": revision})

    @app.get("/api/v1/ping", include_in_schema=False)
    async def ping() -> dict[str, bool]:
        """A bare endpoint returning a constant body: the benchmarks' baseline."""
        return {"ok": True}

    app.add_middleware(BodyLimitMiddleware, limit=server.max_body_bytes)
    app.add_middleware(AuthFailureLimitMiddleware, limiter=limiter)
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(CollapseSlashesMiddleware)  # outermost: before routing
    return app


def _unready(reason: str, public: StoreError) -> JSONResponse:
    """503 with ``Retry-After``: a fixed reason, and the API's ``store_error`` object."""
    return JSONResponse(
        {"status": "unavailable", "reason": reason, "error": public.to_dict()},
        status_code=public.http_status,
        headers=error_headers(public),
    )


def app_from_env() -> FastAPI:
    """uvicorn's factory for ``shipmate serve --workers N``: settings from the environment."""
    return create_app(load_settings())
