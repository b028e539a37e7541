"""Dashboard pages (registered by shipmate.api.app): the same service calls, rendered twice.

Every page builds its data once from the services the API uses and renders it
either as HTML (Jinja, autoescaped) or, with ``?format=json``, as JSON: the
page's *JSON twin*.  Where the page shows exactly what an API endpoint returns,
the twin carries the same dict (``/`` = ``/api/v1/current``, ``/history`` =
``/api/v1/deployments``, ``/dora`` = ``/api/v1/dora``).

==========================  ==================================================
page                        what it shows
==========================  ==================================================
``/``                       the matrix: products × environments, live
``/products/{name}``        a timeline per environment, version states, DORA
``/deployments/{id}``       events, metadata, CI link, changelog, run steps
``/history``                every deployment, filtered, searched, paged
``/dora``                   the four metrics and charts per product@environment
``/login``, ``/logout``     the session (:mod:`shipmate.web.login`)
``/live``                   ``{"latest_event": id}``: the matrix polls it
``/static/{file}``          CSS, JavaScript and icons shipped in the package
==========================  ==================================================

Pages read their query parameters themselves so that bad input is answered with
an HTML page naming the field (or the JSON error envelope for a twin).
"""

from __future__ import annotations

import importlib.resources
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from shipmate.domain.inputs.fields import parse_id
from shipmate.domain.lifecycle import DeploymentKind, Status
from shipmate.domain.records import DeploymentRecord
from shipmate.domain.requests import HistoryFilter
from shipmate.errors import ShipmateError
from shipmate.services import queries
from shipmate.services.auth.keys import Principal
from shipmate.services.catalog import listing as catalog
from shipmate.services.changelog.assembly import Changelog, deployment_changelog
from shipmate.services.changelog.repository import repository_for
from shipmate.services.context import Context
from shipmate.services.dora import dora_report
from shipmate.services.historypages import MAX_JUMP_PAGES, numbered_page
from shipmate.web.dorachart import dora_chart
from shipmate.web.historyview import Pager, chosen_filters, history_filter
from shipmate.web.linking import link_maker
from shipmate.web.matrixview import latest_event, matrix_view
from shipmate.web.responses import (
    Page,
    context_of,
    days_param,
    handle,
    int_param,
    param,
    visible_products,
)
from shipmate.web.templating import render
from shipmate.web.wording import plural

__all__ = ["PERIODS", "router", "run_steps", "version_states"]

router = APIRouter(include_in_schema=False)

#: The periods the DORA views offer, in days.
PERIODS = (7, 30, 90, 180, 365)
TIMELINE_LENGTH = 12
HISTORY_PAGE = 50
#: A search without a start date looks this far back (the form shows the date).
SEARCH_DAYS = timedelta(days=90)
_STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


# -- hooks later features fill in --------------------------------------------------------


def version_states(ctx: Context, product: str) -> list[dict[str, Any]] | None:
    """VERSION STATES HOOK: the product's versions as active / draining / retired.

    Filled by the draining feature (:mod:`shipmate.services.draining.states`); None
    while shipmate has not run any of the product's deploys itself.  Each
    item: ``{"version", "environment", "state", "since", "pending"}``; the template
    ``_version_states.html`` shows them.
    """
    from shipmate.domain.inputs.fields import format_time
    from shipmate.services.draining.states import list_version_states

    states = list_version_states(ctx, product)
    if not any(s.recorded for s in states):
        return None
    return [
        {
            "version": s.full_version,
            "environment": s.environment,
            "state": s.state,
            "since": format_time(s.drain_started_at if s.state == "draining" else s.since),
            "pending": s.pending,
        }
        for s in states
    ]


def run_steps(ctx: Context, deployment: DeploymentRecord) -> list[dict[str, Any]] | None:
    """RUN STEPS HOOK: the steps of the run that made this deployment, with their output.

    The runs feature replaces this; until then there are none.  Each item:
    ``{"name", "status", "started_at", "finished_at", "output"}``; the template
    ``_run_steps.html`` shows them.
    """
    return None


# -- matrix --------------------------------------------------------------------------


@router.get("/")
def matrix_page(request: Request) -> Response:
    def build(principal: Principal) -> Page | Response:
        ctx = context_of(request)
        matrix, view = matrix_view(ctx, principal)

        def data() -> dict[str, Any]:
            return {
                **matrix.to_dict(),
                "attempts": [a.to_dict() for a in view["attempts"]],
                "latest_event": view["latest_event"],
            }

        if request.query_params.get("fragment") == "matrix":
            html = render("_matrix_table.html", matrix=matrix, **view)
            return HTMLResponse(html)
        return Page("matrix.html", {"matrix": matrix, **view}, data)

    return handle(request, build)


@router.get("/live")
def live(request: Request) -> Response:
    """A tiny answer the matrix page polls: has anything been recorded since?"""

    def build(principal: Principal) -> Page | Response:
        return JSONResponse({"latest_event": latest_event(context_of(request))})

    return handle(request, build)


# -- product --------------------------------------------------------------------------


@router.get("/products/{name:path}")
def product_page(request: Request, name: str) -> Response:
    def build(principal: Principal) -> Page:
        principal.require_product(name)
        ctx = context_of(request)
        days = days_param(request)
        matrix = queries.current_matrix(ctx, product=name)
        page = queries.history(ctx, HistoryFilter(product=name), limit=queries.MAX_PAGE_SIZE)
        timeline: dict[str, list[DeploymentRecord]] = {}
        for env, _ in matrix.environments:
            items = [d for d in page.items if d.environment == env][:TIMELINE_LENGTH]
            if items:
                timeline[env] = items
        dora_data = None
        dora_error = None
        try:
            result = dora_report(ctx, product=name, days=days)
            dora_data = result.to_dict()
        except ShipmateError as exc:
            dora_error = exc
        states = version_states(ctx, name)
        data = {
            "product": name,
            "current": matrix.to_dict(),
            "timeline": {env: [d.to_dict() for d in items] for env, items in timeline.items()},
            "dora": dora_data,
            "version_states": states,
        }
        return Page(
            "product.html",
            {
                "name": name,
                "matrix": matrix,
                "timeline": timeline,
                "dora": dora_data,
                "dora_error": dora_error,
                "charts": {} if dora_data is None else _charts(dora_data),
                "days": days,
                "periods": PERIODS,
                "version_states": states,
                "now": ctx.now(),
            },
            data,
        )

    return handle(request, build)


# -- deployment -------------------------------------------------------------------------


@router.get("/deployments/{deployment_id}")
def deployment_page(request: Request, deployment_id: str) -> Response:
    def build(principal: Principal) -> Page:
        ctx = context_of(request)
        dep = queries.show_deployment(ctx, parse_id(deployment_id, field="id"))
        principal.require_product(dep.product)
        log: Changelog | None = None
        log_error: ShipmateError | None = None
        configured = False
        try:
            configured = repository_for(ctx.settings, dep.product) is not None
            if configured:
                log = deployment_changelog(ctx, dep.id)
        except ShipmateError as exc:
            log_error = exc
        rolled_back_by = next(
            (
                e.data.get("rolled_back_by")
                for e in dep.events
                if e.type == "deployment.rolled_back" and e.data.get("rolled_back_by")
            ),
            None,
        )
        steps = run_steps(ctx, dep)
        data = {
            "deployment": dep.to_dict(with_events=True),
            "changelog": None if log is None else log.to_dict(),
            "changelog_error": None if log_error is None else log_error.to_dict(),
            "run_steps": steps,
        }
        return Page(
            "deployment.html",
            {
                "dep": dep,
                "changelog": log,
                "changelog_error": log_error,
                "repository_configured": configured,
                "rolled_back_by": rolled_back_by,
                "run_steps": steps,
                "is_rollback": dep.kind == DeploymentKind.ROLLBACK.value,
                "links": link_maker(ctx),
            },
            data,
        )

    return handle(request, build)


# -- history ----------------------------------------------------------------------------


@router.get("/history")
def history_page(request: Request) -> Response:
    def build(principal: Principal) -> Page:
        ctx = context_of(request)
        chosen = chosen_filters(request, param)
        products = visible_products(ctx, principal)
        if chosen["product"] is not None:
            principal.require_product(chosen["product"])
        elif principal.products:
            chosen["product"] = products[0] if products else principal.products[0]
        if chosen["q"] is not None and chosen["from"] is None:
            chosen["from"] = (ctx.now() - SEARCH_DAYS).date().isoformat()
        limit = int_param(request, "limit", HISTORY_PAGE, 1, queries.MAX_PAGE_SIZE)
        cursor = param(request, "cursor", max_length=200)
        numbered = param(request, "page") is not None or cursor is None
        number = int_param(request, "page", 1, 1, MAX_JUMP_PAGES) if numbered else None
        f = history_filter(chosen, now=ctx.now())
        found = numbered_page(ctx, f, limit=limit, cursor=cursor, number=number)
        page = found.page
        filters = {k: v for k, v in chosen.items() if v is not None}
        base = {**filters, "limit": limit if limit != HISTORY_PAGE else None}
        return Page(
            "history.html",
            {
                "page": page,
                "filters": filters,
                "limit": limit,
                "pager": Pager(found.number, found.count, page.next_cursor, base),
                "products": products,
                "environments": [e.name for e in catalog.list_environments(ctx)],
                "statuses": [s.value for s in Status],
                "kinds": [k.value for k in DeploymentKind],
                "links": link_maker(ctx),
                "search_days": SEARCH_DAYS.days,
            },
            page.to_dict(),
        )

    return handle(request, build)


# -- DORA -------------------------------------------------------------------------------


def _charts(data: dict[str, Any]) -> dict[str, Any]:
    charts = {"overall": dora_chart(data["daily"])}
    for stream in data.get("streams", []):
        charts[stream["stream"]] = dora_chart(stream["daily"], compact=True)
    return charts


#: Per lead-time source, in the page's order: what one sample is, and the phrase.
_LEAD_TIME_SOURCES = (
    ("repository", "deployment", "{} with every new commit read from git"),
    ("recorded_commit_time", "deployment", "{} with the deployed commit's recorded time"),
    ("unchanged", "redeployment", "none from {} of the same commit"),
    ("unknown", "deployment", "none from {} without a commit time"),
)


def lead_time_sources(sources: dict[str, int]) -> list[str]:
    """Where the lead-time samples came from, as phrases for the page."""
    return [
        phrase.format(plural(sources[key], word))
        for key, word, phrase in _LEAD_TIME_SOURCES
        if sources.get(key)
    ]


@router.get("/dora")
def dora_page(request: Request) -> Response:
    def build(principal: Principal) -> Page:
        ctx = context_of(request)
        product = param(request, "product")
        environment = param(request, "environment")
        days = days_param(request)
        products = visible_products(ctx, principal)
        if product is not None:
            principal.require_product(product)
        elif len(principal.products) == 1:
            product = principal.products[0]
        elif principal.products:
            product = products[0] if products else principal.products[0]
        data = dora_report(ctx, product=product, environment=environment, days=days).to_dict()
        return Page(
            "dora.html",
            {
                "data": data,
                "charts": _charts(data),
                "product": product,
                "environment": environment,
                "days": days,
                "periods": PERIODS,
                "products": products,
                "environments": [e.name for e in catalog.list_environments(ctx)],
                "lead_sources": lead_time_sources(data["lead_time_sources"]),
            },
            data,
        )

    return handle(request, build)


# -- static files ----------------------------------------------------------------------------


def _static_files() -> dict[str, bytes]:
    folder = importlib.resources.files("shipmate.web") / "static"
    return {
        item.name: item.read_bytes()
        for item in folder.iterdir()
        if item.is_file() and "." + item.name.rsplit(".", 1)[-1] in _STATIC_TYPES
    }


_STATIC: dict[str, bytes] | None = None


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    global _STATIC
    if _STATIC is None:
        _STATIC = _static_files()
    content = _STATIC.get(name)
    if content is None:
        return JSONResponse(
            {"error": {"code": "not_found", "message": f"no static file {name!r}"}},
            status_code=404,
        )
    media = _STATIC_TYPES["." + name.rsplit(".", 1)[-1]]
    return Response(
        content,
        media_type=media,
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
