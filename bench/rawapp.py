"""The bench server: shipmate's app plus two hand-written baselines, never in the product.

``python -m bench.rawapp serve --port P --workers N --log-level L`` serves what
``shipmate serve`` serves (same factory, settings, pool and durability settings,
same uvicorn), plus:

- ``POST /bench/raw-record``: the body of a Versioner deployment event, recorded by
  hand: the deployment row, its event and the ``current_state`` upsert, in one
  write transaction on the app's own engine (``BEGIN IMMEDIATE`` on SQLite), with
  product, environment and version ids remembered per process as the service does;
  the answer is the same JSON body as ``POST /versioner/deployment-events/``, built
  with ``json.dumps``.  No authentication, validation, lock, gates or repeat check:
  the floor of the same durable write.
- ``GET /bench/raw-list?product=P&environment=E&limit=50``: the same filtered history
  page by hand (one indexed query for ``limit + 1`` rows) as the JSON of the same
  rows with the same keys.
- ``GET /bench/raw-current``: the matrix query alone (``current_state`` joined to the
  deployments it points at), its rows as JSON.

The benchmark (``bench/bench_api.py``) compares the product's endpoints with these on
the same server process and database, in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import Connection

from shipmate.api.app import create_app
from shipmate.config import load_settings
from shipmate.services.context import Context
from shipmate.store.engine import WRITE

__all__ = ["app_from_env", "main"]

_DEPLOYMENT_COLUMNS = (
    "id, product_id, environment_id, version_id, version, build_number, full_version, "
    "status, kind, reverts_id, commit_sha, commit_time, branch, repository, deployed_by, "
    "ci_platform, ci_run_id, ci_run_url, source_system, extra, deployed_at, created_at, "
    "updated_at, started_at, finished_at, duration_ms"
)
_COLUMN_NAMES = tuple(c.strip() for c in _DEPLOYMENT_COLUMNS.split(","))
_TIMES = frozenset(
    {"commit_time", "deployed_at", "created_at", "updated_at", "started_at", "finished_at"}
)


class _Raw:
    """One process's statements in the driver's paramstyle, and the ids it learnt."""

    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"
        self.ids: dict[tuple[str, ...], int] = {}
        self.places: dict[tuple[str, str], tuple[int, int]] = {}

    def sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.pg else text

    def time(self, value: datetime) -> Any:
        return value if self.pg else value.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")

    def json(self, value: Any) -> Any:
        if self.pg:
            from psycopg.types.json import Jsonb

            return Jsonb(value)
        return json.dumps(value)

    def text_time(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return str(value).replace(" ", "T") + "Z"


def _cursor(conn: Connection) -> Any:
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


def _one(cur: Any, sql: str, params: Sequence[Any]) -> Any:
    cur.execute(sql, tuple(params))
    row = cur.fetchone()
    return None if row is None else row[0]


def _id(raw: _Raw, cur: Any, key: tuple[str, ...], insert: str, select: str, params: Any) -> int:
    found = raw.ids.get(key)
    if found is None:
        cur.execute(raw.sql(insert), params[0])
        found = int(_one(cur, raw.sql(select), params[1]))
        raw.ids[key] = found
    return found


def _record(ctx: Context, raw: _Raw, body: dict[str, Any]) -> dict[str, Any]:
    product, environment = str(body["product_name"]), str(body["environment_name"])
    version, commit = str(body["version"]), body.get("scm_sha")
    deployed_by = body.get("deployed_by")
    at = datetime.now(UTC)
    now = raw.time(at)
    with ctx.engine.connect().execution_options(**WRITE) as conn, conn.begin():
        cur = _cursor(conn)
        product_id = _id(
            raw,
            cur,
            ("p", product),
            "INSERT INTO products (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            "SELECT id FROM products WHERE name = ?",
            ((product, now), (product,)),
        )
        environment_id = _id(
            raw,
            cur,
            ("e", environment),
            "INSERT INTO environments (name, kind, kind_inferred, created_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
            "SELECT id FROM environments WHERE name = ?",
            ((environment, environment, True, now), (environment,)),
        )
        version_id = _id(
            raw,
            cur,
            ("v", str(product_id), version),
            "INSERT INTO versions (product_id, version, is_semver, created_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (product_id, version) DO NOTHING",
            "SELECT id FROM versions WHERE product_id = ? AND version = ?",
            ((product_id, version, True, now), (product_id, version)),
        )
        extra = raw.json({})
        deployment_id = int(
            _one(
                cur,
                raw.sql(
                    "INSERT INTO deployments (product_id, environment_id, version_id, version, "
                    "full_version, status, kind, commit_sha, deployed_by, extra, deployed_at, "
                    "created_at, updated_at, finished_at) "
                    "VALUES (?, ?, ?, ?, ?, 'completed', 'deploy', ?, ?, ?, ?, ?, ?, ?) "
                    "RETURNING id"
                ),
                (
                    *(product_id, environment_id, version_id, version, version, commit),
                    *(deployed_by, extra, now, now, now, now),
                ),
            )
        )
        cur.execute(
            raw.sql(
                "INSERT INTO events (type, at, actor, product_id, environment_id, "
                "deployment_id, to_status, data) VALUES ('deployment.completed', ?, ?, ?, ?, "
                "?, 'completed', ?)"
            ),
            (
                *(now, deployed_by, product_id, environment_id, deployment_id),
                raw.json({"full_version": version, "kind": "deploy"}),
            ),
        )
        cur.execute(
            raw.sql(
                "INSERT INTO current_state (product_id, environment_id, deployment_id, since) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (product_id, environment_id) DO UPDATE SET "
                "deployment_id = excluded.deployment_id, since = excluded.since"
            ),
            (product_id, environment_id, deployment_id, now),
        )
        cur.close()
    stamp = raw.text_time(now)
    return {
        "id": str(deployment_id),
        "product_id": str(product_id),
        "product_name": product,
        "version_id": str(version_id),
        "version": version,
        "environment_id": str(environment_id),
        "environment_name": environment,
        "status": "completed",
        "deployed_by": deployed_by,
        "deployed_at": stamp,
        "started_at": None,
        "completed_at": stamp,
        "scm_sha": commit,
        "extra_metadata": {},
    }


def _list(ctx: Context, raw: _Raw, product: str, environment: str, limit: int) -> dict[str, Any]:
    with ctx.engine.connect() as conn, conn.begin():
        cur = _cursor(conn)
        ids = raw.places.get((product, environment))
        if ids is None:
            ids = raw.places[product, environment] = (
                int(_one(cur, raw.sql("SELECT id FROM products WHERE name = ?"), (product,))),
                int(
                    _one(cur, raw.sql("SELECT id FROM environments WHERE name = ?"), (environment,))
                ),
            )
        cur.execute(
            raw.sql(
                f"SELECT {', '.join('d.' + c for c in _COLUMN_NAMES)}, p.name, e.name, e.kind "
                "FROM deployments d JOIN products p ON p.id = d.product_id "
                "JOIN environments e ON e.id = d.environment_id "
                "WHERE d.product_id = ? AND d.environment_id = ? "
                "ORDER BY d.deployed_at DESC, d.id DESC LIMIT ?"
            ),
            (*ids, limit + 1),
        )
        rows = cur.fetchall()
        cur.close()
    items = []
    for row in rows[:limit]:
        item: dict[str, Any] = {}
        for name, value in zip(_COLUMN_NAMES, row, strict=False):
            if name in _TIMES:
                value = raw.text_time(value)
            elif name == "extra":
                name, value = "metadata", json.loads(value) if isinstance(value, str) else value
            elif name.endswith("id") and value is not None and name != "ci_run_id":
                value = str(value)
            item[name] = value
        item["product"], item["environment"], item["environment_kind"] = row[-3:]
        items.append(item)
    more = len(rows) > limit
    last = items[-1] if more else None
    return {
        "items": items,
        "next_cursor": None if last is None else f"{last['deployed_at']}|{last['id']}",
        "count": len(items),
    }


def _current(ctx: Context, raw: _Raw) -> dict[str, Any]:
    """The matrix query alone (the cells' rows, as ``current_cells`` reads them)."""
    with ctx.engine.connect() as conn, conn.begin():
        cur = _cursor(conn)
        cur.execute(
            "SELECT c.product_id, c.environment_id, c.since, d.id, d.version, "
            "d.full_version, d.status, d.deployed_by, d.commit_sha "
            "FROM current_state c JOIN deployments d ON d.id = c.deployment_id"
        )
        rows = cur.fetchall()
        cur.close()
    cells = [
        {
            "product_id": str(r[0]),
            "environment_id": str(r[1]),
            "since": raw.text_time(r[2]),
            "deployment_id": str(r[3]),
            "version": r[4],
            "full_version": r[5],
            "status": r[6],
            "deployed_by": r[7],
            "commit_sha": r[8],
        }
        for r in rows
    ]
    return {"cells": cells}


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json")


def raw_router() -> APIRouter:
    router = APIRouter(prefix="/bench", include_in_schema=False)
    state: dict[str, _Raw] = {}

    def raw_of(ctx: Context) -> _Raw:
        found = state.get("raw")
        if found is None:
            found = state["raw"] = _Raw(ctx.engine.dialect.name)
        return found

    @router.post("/raw-record", status_code=201)
    def raw_record(request: Request, body: Annotated[dict[str, Any], Body()]) -> Response:
        ctx: Context = request.app.state.ctx
        return _json(_record(ctx, raw_of(ctx), body), 201)

    @router.get("/raw-current")
    def raw_current(request: Request) -> Response:
        ctx: Context = request.app.state.ctx
        return _json(_current(ctx, raw_of(ctx)))

    @router.get("/raw-list")
    def raw_list(request: Request, product: str, environment: str, limit: int = 50) -> Response:
        ctx: Context = request.app.state.ctx
        return _json(_list(ctx, raw_of(ctx), product, environment, limit))

    return router


def app_from_env() -> FastAPI:
    """uvicorn's factory: the product's app, with the baselines mounted."""
    app = create_app(load_settings())
    app.include_router(raw_router())
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """``serve --port P --workers N --log-level L``, as ``shipmate serve`` takes them."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from shipmate.cli.records.handlers import bind_tcp
    from shipmate.services.context import open_context

    parser = argparse.ArgumentParser(prog="python -m bench.rawapp")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    open_context(load_settings()).close()  # migrate once, before the workers start
    sock = bind_tcp(args.host, args.port)
    config = uvicorn.Config(
        "bench.rawapp:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
    )
    if args.workers == 1:
        uvicorn.Server(config).run(sockets=[sock])
    else:
        Multiprocess(config, sockets=[sock]).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
