"""The HTTP API under load: requests per second and latency against the same work by hand.

One real server with two workers (``bench/rawapp.py``: ``shipmate serve``'s app plus
hand-written baselines mounted only there) on a copy of the generated history
(``bench.dataset``), driven by ``wrk`` on loopback.  The history page, the status
event and the matrix are each judged against the same work done by hand on the same
server process, pool and database (``raw-list``, ``raw-record``, ``raw-current``);
``GET /api/v1/ping`` (a constant body, no database) stays as an informational floor.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import desc, func, select

from bench.dataset import seeded_copy
from bench.registry import BenchRun, Check, Result, Target, benchmark
from bench.report import BACKEND_LABELS
from bench.stats import median
from shipmate.config import Settings
from shipmate.services.context import Context
from shipmate.store.engine import make_engine
from tests.support.server import ServerProcess

__all__ = ["bench_api"]

REPO = Path(__file__).resolve().parent.parent

FULL_SIZE = 1_000_000
QUICK_SIZE = 20_000
CONNECTIONS = 8
RECORD_TARGET = Target("ratio_min", 0.5)
LIST_TARGET = Target("ratio_min", 0.5)
RAW_RECORD_PATH = "/bench/raw-record"
#: Client counts of the status-event concurrency curve.
CURVE = (1, 2, 4, 8, 16)
DASHBOARD_TARGET = Target("value_max", 100)
CURRENT_TARGET = Target("ratio_max", 2)
RECORD_PATH = "/versioner/deployment-events/"
PING_PATH = "/api/v1/ping"
#: A bare endpoint slower than this for one client means responses stall on TCP
#: (Nagle's algorithm on the server waiting for the client's delayed ACK: 40 ms).
STALL_MS = 10.0

METHOD = f"""
One server with 2 uvicorn workers (a real subprocess on 127.0.0.1: the bench server described below) on a copy of
the generated history of the `queries` section (1,000,000 deployments; 20,000 with
`--quick`), with an API key of scope `write` sent as `Authorization: Bearer`. The load
generator is Debian's `wrk` 4 (`apt-get install -y wrk`), one thread and
{CONNECTIONS} keep-alive connections (`-t1 -c{CONNECTIONS}`), for a fixed time per run, on
the same 2-core machine as the server (so it takes some of the CPU; it does so for the
baseline too). Its Lua scripts build each request and report the request count, errors
and the latency percentiles. The endpoints are driven in rotation, 3 rounds of 5 s
each (1 round of 2 s with `--quick`): `GET {PING_PATH}` (the baseline: a constant JSON
body, no database, no authentication), `GET /api/v1/deployments?product=P&environment=E
&limit=50` over the 8 busiest product × environment pairs in turn (a filtered history
page through authentication, the service and JSON), and `POST {RECORD_PATH}` (Versioner's
deployment event: a lone `completed` of one of 20 new versions of the 3 largest products
in dev, staging or production, each with its commit and a unique `invoke_id`; every
request records a new deployment with its event and moves the current state). The server is the bench
server (`bench/rawapp.py`: the product's app from the same factory, plus two baselines
mounted only there), and each product endpoint is judged against the same work done by
hand on the same server process, pool and database: `GET /bench/raw-list` (the same
filtered history query written by hand, the same 50 rows with the same keys as JSON via
`json.dumps`) and `POST /bench/raw-record` (the same deployment, event and `current_state`
rows written by hand in one write transaction with the same durability settings, ids
remembered per process, the same answer body via `json.dumps`; no authentication,
validation, lock, gates or repeat check), driven in the same rotation. Each figure is the
median round; its ratio is to its baseline's median round (the ping's ratio is kept as
an informational line). Then the status-event curve: `POST {RECORD_PATH}` and raw-record
at 1, 2, 4, 8 and 16 connections, one run each. After the POST rounds the
database must hold one new completed deployment per answered request (up to the requests
in flight when `wrk` stopped), and no request may have failed. Then single-client
latencies (`-c1`, 5 s each, 2 s with `--quick`) of the pages people open, against the ping
at `-c1`: the matrix as JSON (`GET /api/v1/current`, also against `GET /bench/raw-current`: the matrix
query alone, its rows as JSON), a product's stats and 90-day DORA
(`/api/v1/stats`, `/api/v1/dora`), and the dashboard's matrix page (`GET /`) and product
page (`GET /products/P`) as HTML.
"""

_LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, '
    .. '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal here


def _get_script(paths: list[str], token: str | None) -> str:
    listed = ", ".join(_lua_string(p) for p in paths)
    headers = f'{{["Authorization"] = {_lua_string("Bearer " + token)}}}' if token else "{}"
    return f"""
local paths = {{{listed}}}
local headers = {headers}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1], headers)
end
{_LUA_DONE}"""


def _post_script(products: list[str], token: str, tag: str, path: str = RECORD_PATH) -> str:
    listed = ", ".join(_lua_string(p) for p in products)
    return f"""
local products = {{{listed}}}
local envs = {{"dev", "staging", "production"}}
local headers = {{["Authorization"] = {_lua_string("Bearer " + token)},
                  ["Content-Type"] = "application/json"}}
local n = 0
request = function()
  n = n + 1
  local p = products[(n % #products) + 1]
  local e = envs[(math.floor(n / #products) % #envs) + 1]
  local k = math.floor(n / 9) % 20
  local body = string.format(
    '{{"product_name": "%s", "environment_name": "%s", "version": "2000.%d.0", '
    .. '"status": "completed", "scm_sha": "%040d", "invoke_id": "{tag}-%d", '
    .. '"deployed_by": "bench"}}', p, e, k, k, n)
  return wrk.format("POST", {_lua_string(path)}, headers, body)
end
{_LUA_DONE}"""


@dataclass(frozen=True)
class Load:
    """One ``wrk`` run's summary."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def _wrk(
    wrk: str, base_url: str, script: Path, seconds: float, connections: int, path: str
) -> Load:
    cmd = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        base_url + (path or "/"),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    match = re.search(r"^BENCHJSON (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise RuntimeError(
            f"wrk exited {done.returncode}: {done.stderr.strip()[-300:] or done.stdout[-300:]}"
        )
    data = json.loads(match.group(1))
    errors = sum(int(data[k]) for k in ("connect", "read", "write", "status", "timeout"))
    return Load(
        requests=int(data["requests"]),
        seconds=int(data["duration_us"]) / 1e6,
        errors=errors,
        p50_ms=int(data["p50_us"]) / 1000,
        p99_ms=int(data["p99_us"]) / 1000,
    )


def _prepare(url: str) -> tuple[str, list[str], list[tuple[str, str]]]:
    """An API key, the 3 largest products, the 8 busiest (product, environment) pairs."""
    from shipmate.services.auth.keys import create_key
    from shipmate.store.schema import deployments, environments, products

    ctx = Context(settings=Settings(database_url=url), engine=make_engine(url))
    try:
        token = create_key(ctx, "bench-api", "write", created_by="bench").token
        with ctx.read() as conn:
            n = func.count().label("n")
            largest = [
                str(r[0])
                for r in conn.execute(
                    select(products.c.name)
                    .join(deployments, deployments.c.product_id == products.c.id)
                    .group_by(products.c.name)
                    .order_by(desc(n), products.c.name)
                    .limit(3)
                )
            ]
            pairs = [
                (str(r[0]), str(r[1]))
                for r in conn.execute(
                    select(products.c.name, environments.c.name, n)
                    .select_from(
                        deployments.join(products, products.c.id == deployments.c.product_id).join(
                            environments, environments.c.id == deployments.c.environment_id
                        )
                    )
                    .group_by(products.c.name, environments.c.name)
                    .order_by(desc(n), products.c.name, environments.c.name)
                    .limit(8)
                )
            ]
    finally:
        ctx.close()
    return token, largest, pairs


def _recorded(url: str, tag_products: list[str]) -> int:
    from shipmate.store.schema import deployments, products

    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            ids = select(products.c.id).where(products.c.name.in_(tag_products))
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(deployments)
                    .where(
                        deployments.c.product_id.in_(ids),
                        deployments.c.version.like("2000.%"),
                        deployments.c.status == "completed",
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


@benchmark(
    "api",
    title="HTTP API under load (wrk, against the same work by hand)",
    method=METHOD,
    per_backend=True,
    order=50,
)
def bench_api(run: BenchRun) -> list[Result]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed: `apt-get install -y wrk` (Debian) and run again")
    n = run.pick(FULL_SIZE, QUICK_SIZE)
    seconds = 2.0 if run.quick else 5.0
    rounds = run.pick(3, 1)
    curve_seconds = 2.0 if run.quick else 3.0
    run.param("deployments in the database", f"{n:,}")
    run.param("wrk", f"-t1 -c{CONNECTIONS}, {seconds:g} s per run, {rounds} round(s)")
    seeded = seeded_copy(run, n, "bench_api")
    run.log(f"{run.backend}: history of {n:,} deployments {seeded.how}")
    token, largest, pairs = _prepare(seeded.url)
    scratch = run.databases.scratch_dir(f"api_{run.backend}")
    scripts = {
        "ping": _get_script([PING_PATH], None),
        "list": _get_script(
            [
                f"/api/v1/deployments?product={_quote(p)}&environment={_quote(e)}&limit=50"
                for p, e in pairs
            ],
            token,
        ),
        "record": _post_script(largest, token, f"bench-{run.backend}"),
        "raw_list": _get_script(
            [
                f"/bench/raw-list?product={_quote(p)}&environment={_quote(e)}&limit=50"
                for p, e in pairs
            ],
            None,
        ),
        "raw_record": _post_script(largest, token, f"raw-{run.backend}", RAW_RECORD_PATH),
        "current": _get_script(["/api/v1/current"], token),
        "raw_current": _get_script(["/bench/raw-current"], None),
        "stats": _get_script([f"/api/v1/stats?product={_quote(largest[0])}"], token),
        "dora": _get_script([f"/api/v1/dora?product={_quote(largest[0])}&days=90"], token),
        "dashboard": _get_script(["/"], token),
        "product_page": _get_script([f"/products/{_quote(largest[0])}"], token),
    }
    paths: dict[str, Path] = {}
    for name, body in scripts.items():
        paths[name] = scratch / f"{name}.lua"
        paths[name].write_text(body, encoding="utf-8")
    loads: dict[str, list[Load]] = {name: [] for name in scripts}
    server = ServerProcess(
        seeded.url,
        workers=2,
        log_path=scratch / "server.log",
        env={"SHIPMATE_DATA_DIR": str(scratch / "data"), "PYTHONPATH": str(REPO)},
        module="bench.rawapp",
    )
    with server:
        base = server.base_url

        def drive(name: str, connections: int, duration: float) -> Load:
            load = _wrk(wrk, base, paths[name], duration, connections, "")
            loads[name].append(load)
            return load

        drive("ping", CONNECTIONS, 1.0)  # warm-up: imports, pools, caches
        drive("list", CONNECTIONS, 1.0)
        drive("raw_list", CONNECTIONS, 1.0)
        for name in ("ping", "list", "raw_list"):
            loads[name].clear()
        order = ["ping", "list", "raw_list", "record", "raw_record"]
        for r in range(rounds):
            for name in order[r % len(order) :] + order[: r % len(order)]:
                load = drive(name, CONNECTIONS, seconds)
                run.log(
                    f"{run.backend} round {r + 1}/{rounds} {name}: {load.rate:,.0f} req/s, "
                    f"p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms, {load.errors} errors"
                )
        curve: dict[str, dict[int, Load]] = {"record": {}, "raw_record": {}}
        for clients in CURVE:
            for name in ("record", "raw_record"):
                curve[name][clients] = load = _wrk(
                    wrk, base, paths[name], curve_seconds, clients, ""
                )
                loads[name].append(Load(load.requests, 0.0, load.errors, 0.0, 0.0))
                run.log(
                    f"{run.backend} curve {name} at {clients} client(s): {load.rate:,.0f} req/s, "
                    f"{load.errors} errors"
                )
        single = {}
        for name in (
            "ping",
            "current",
            "raw_current",
            "stats",
            "dora",
            "dashboard",
            "product_page",
        ):
            _wrk(wrk, base, paths[name], 1, 1, "")  # warm-up
            single[name] = _wrk(wrk, base, paths[name], seconds, 1, "")
            if single[name].requests < 3:  # a slow page: give it time for a median
                single[name] = _wrk(wrk, base, paths[name], max(10.0, 4 * seconds), 1, "")
            if single[name].requests == 0:
                raise RuntimeError(f"{name}: no request answered in {4 * seconds:g} s")
            run.log(
                f"{run.backend} single client {name}: p50 {single[name].p50_ms:.1f} ms, "
                f"p99 {single[name].p99_ms:.1f} ms, {single[name].requests} requests, "
                f"{single[name].errors} errors"
            )
    answered = sum(
        load.requests - load.errors for name in ("record", "raw_record") for load in loads[name]
    )
    in_flight = (CONNECTIONS * rounds + sum(CURVE)) * 2
    stored = _recorded(seeded.url, largest)
    failed = {name: sum(x.errors for x in xs) for name, xs in loads.items() if any(xs)}
    failed.update({f"{name} (1 client)": x.errors for name, x in single.items() if x.errors})
    label = BACKEND_LABELS[run.backend]
    record_check = Check(
        f"{label}: {answered:,} answered POSTs stored {stored:,} completed deployments "
        f"(at most {in_flight} more for requests in flight when wrk stopped)",
        answered <= stored <= answered + in_flight,
    )
    stall_check = Check(
        f"{label}: one client's GET {PING_PATH} answers in under {STALL_MS:g} ms at the median "
        f"({single['ping'].p50_ms:.1f} ms): no Nagle / delayed-ACK stall on the server's "
        "sockets",
        single["ping"].p50_ms < STALL_MS,
    )
    error_check = Check(
        f"{label}: no request failed (connect, read, write, timeout or non-2xx)"
        + (f"; failures: {failed}" if any(failed.values()) else ""),
        not any(failed.values()),
    )
    ping = loads["ping"]
    stalled = not stall_check.passed
    stalled_note = (
        "not judged against its target ({target}): every response of this server, the "
        "bare endpoint's included, waits about 40 ms on TCP (see the failed check), so "
        "the ratio compares two stalls, not the work of the endpoints"
    )
    results: list[Result] = []
    for name, figure, target, raw_name, raw_figure in (
        (
            "list",
            "GET /api/v1/deployments (filtered, 50 rows)",
            LIST_TARGET,
            "raw_list",
            "raw-list: the same query and rows by hand",
        ),
        (
            "record",
            f"POST {RECORD_PATH}",
            RECORD_TARGET,
            "raw_record",
            "raw-record: the same rows and answer by hand",
        ),
    ):
        got = [x for x in loads[name] if x.seconds > 0]
        raw = [x for x in loads[raw_name] if x.seconds > 0]
        results.append(
            Result(
                figure=f"{figure} · req/s",
                backend=run.backend,
                value=median([x.rate for x in got]),
                unit="req/s",
                baseline=median([x.rate for x in raw]),
                baseline_name=raw_figure,
                targets=() if stalled else (target,),
                samples=tuple(x.rate for x in got),
                baseline_samples=tuple(x.rate for x in raw),
                checks=(record_check,) if name == "record" else (error_check,),
                note=stalled_note.format(target=target.describe("req/s")) if stalled else "",
            )
        )
        results.append(
            Result(
                figure=f"{figure} · req/s against the bare endpoint",
                backend=run.backend,
                value=median([x.rate for x in got]),
                unit="req/s",
                baseline=median([x.rate for x in ping]),
                baseline_name=f"GET {PING_PATH}",
            )
        )
        for pct in ("p50", "p99"):
            results.append(
                Result(
                    figure=f"{figure} · {pct} latency at {CONNECTIONS} connections",
                    backend=run.backend,
                    value=median([getattr(x, f"{pct}_ms") for x in got]),
                    unit="ms",
                    baseline=median([getattr(x, f"{pct}_ms") for x in ping]),
                    baseline_name=f"GET {PING_PATH}",
                    higher_is_better=False,
                )
            )
    for clients in CURVE:
        service, raw_load = curve["record"][clients], curve["raw_record"][clients]
        results.append(
            Result(
                figure=f"POST {RECORD_PATH} · req/s at {clients} client(s)",
                backend=run.backend,
                value=service.rate,
                unit="req/s",
                baseline=raw_load.rate,
                baseline_name="raw-record, same clients",
                targets=(RECORD_TARGET,) if clients in (1, 8) and not stalled else (),
                note=f"1 client: {curve['record'][1].rate:,.0f} req/s; "
                f"{clients} clients: {service.rate / max(curve['record'][1].rate, 1e-9):.2f}× that",
            )
        )
    results.append(
        Result(
            figure="GET /api/v1/current (matrix JSON) against the matrix query alone · p50, "
            "1 client",
            backend=run.backend,
            value=single["current"].p50_ms,
            unit="ms",
            baseline=single["raw_current"].p50_ms,
            baseline_name="raw-current: the matrix query alone, its rows as JSON",
            targets=(CURRENT_TARGET,),
            higher_is_better=False,
        )
    )
    pages = {
        "current": "GET /api/v1/current (matrix JSON)",
        "stats": "GET /api/v1/stats?product=P",
        "dora": "GET /api/v1/dora?product=P&days=90",
        "dashboard": "dashboard matrix page GET /",
        "product_page": "dashboard product page GET /products/P",
    }
    for name, figure in pages.items():
        load = single[name]
        results.append(
            Result(
                figure=f"{figure} · p50, 1 client",
                backend=run.backend,
                value=load.p50_ms,
                unit="ms",
                baseline=single["ping"].p50_ms,
                baseline_name=f"GET {PING_PATH}, 1 client",
                targets=(DASHBOARD_TARGET,) if name == "dashboard" else (),
                checks=(stall_check,) if name == "current" else (),
                higher_is_better=False,
                extra={"p99_ms": load.p99_ms, "requests": float(load.requests)},
                note=f"p99 {load.p99_ms:.1f} ms over {load.requests} requests"
                + (
                    "; includes the TCP stall of about 40 ms (see the failed check)"
                    if stalled
                    else ""
                ),
            )
        )
    return results
