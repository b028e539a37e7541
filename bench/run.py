"""``python -m bench.run``: run the benchmarks, print each result, write the report.

Options::

    --only NAME[,NAME]        run only these sections (others are kept from the last run)
    --quick                   small counts: a smoke run (under a minute)
    --backends sqlite,postgres
    --output docs/benchmarks.md
    --results bench/results/latest.json
    --render                  rewrite the markdown from the JSON without measuring
    --list                    list the benchmarks and exit

Exit status: 0 when everything ran and every correctness check passed (a missed
*target* is reported, not fatal); 1 when a benchmark failed or a check failed;
2 for bad usage.  When ``CI`` is set, a backend that cannot be started (no
PostgreSQL binaries) is a failure; otherwise it is reported and skipped.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.databases import Databases
from bench.machine import git_commit, machine_facts, postgres_version
from bench.registry import BACKENDS, Benchmark, BenchRun, Result, discover, registered

__all__ = ["main"]

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO / "docs" / "benchmarks.md"
DEFAULT_RESULTS = REPO / "bench" / "results" / "latest.json"

_BACKEND_ALIASES = {
    "sqlite": "sqlite",
    "postgres": "postgres",
    "postgresql": "postgres",
    "pg": "postgres",
}


class UsageError(Exception):
    """Bad command-line input; the message names the option."""


def utc_stamp() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_backends(value: str) -> list[str]:
    chosen: list[str] = []
    for part in _split(value):
        name = _BACKEND_ALIASES.get(part.lower())
        if name is None:
            raise UsageError(f"--backends: unknown backend {part!r} (use sqlite, postgres)")
        if name not in chosen:
            chosen.append(name)
    if not chosen:
        raise UsageError("--backends: name at least one backend (sqlite, postgres)")
    return [b for b in BACKENDS if b in chosen]


def select(benchmarks: list[Benchmark], only: str | None) -> list[Benchmark]:
    if only is None:
        return benchmarks
    names = _split(only)
    known = {b.name for b in benchmarks}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise UsageError(
            f"--only: unknown benchmark {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(sorted(known))}"
        )
    return [b for b in benchmarks if b.name in names]


def describe(result: Result) -> str:
    label = report.BACKEND_LABELS.get(result.backend, result.backend)
    text = f"{label + ' · ' if label else ''}{result.figure}: "
    text += report.format_value(result.value, result.unit)
    if result.baseline is not None:
        text += f"  vs {report.format_value(result.baseline, result.unit)}"
        if result.baseline_name:
            text += f" ({result.baseline_name})"
    if result.ratio is not None:
        text += f"  ratio {result.ratio:.2f}×"
    if result.targets:
        wanted = "; ".join(t.describe(result.unit) for t in result.targets)
        verdict = {True: "met", False: "MISSED", None: "n/a"}[result.met]
        text += f"  [target {wanted}: {verdict}]"
    for check in result.checks:
        text += f"\n      check {'ok' if check.passed else 'FAILED'}: {check.label}"
    return text


def run_section(
    bench: Benchmark,
    backends: list[str],
    databases: Databases,
    quick: bool,
    in_ci: bool,
    commit: str = "",
) -> dict[str, Any]:
    """Run one benchmark (on every backend, if it is per-backend) into a section."""
    from tests.support.postgres import PostgresNotAvailable

    print(f"\n== {bench.title} ({bench.name})", flush=True)
    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    results: list[Result] = []
    errors: list[dict[str, Any]] = []
    params: dict[str, str] = {}

    def log(message: str) -> None:
        print(f"   {message}", flush=True)

    for backend in backends if bench.per_backend else [""]:
        run = BenchRun(quick=quick, backend=backend, databases=databases, log=log)
        try:
            got = bench.function(run)
        except PostgresNotAvailable as exc:
            message = f"PostgreSQL is not available: {exc}"
            print(f"   {'ERROR' if in_ci else 'skipped'}: {message}", flush=True)
            errors.append({"backend": backend, "error": message, "fatal": in_ci})
            continue
        except Exception as exc:
            traceback.print_exc()
            errors.append(
                {"backend": backend, "error": f"{type(exc).__name__}: {exc}", "fatal": True}
            )
            continue
        params.update(run.params)
        for result in got:
            print(f" - {describe(result)}", flush=True)
        results.extend(got)
    return {
        "name": bench.name,
        "title": bench.title,
        "method": bench.method,
        "measured_at": utc_stamp(),
        "commit": commit or git_commit(REPO),
        "quick": quick,
        "backends": backends if bench.per_backend else [],
        "elapsed_s": round(time.perf_counter() - started, 1),
        "load": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "params": params,
        "results": [r.to_json() for r in results],
        "errors": errors,
    }


def merge(
    previous: dict[str, Any] | None, fresh: list[dict[str, Any]], order: list[str]
) -> list[dict[str, Any]]:
    """This run's sections, plus the previous run's sections that were not re-run."""
    by_name = {s["name"]: s for s in (previous or {}).get("sections", [])}
    by_name.update({s["name"]: s for s in fresh})
    rank = {name: i for i, name in enumerate(order)}
    return sorted(by_name.values(), key=lambda s: (rank.get(s["name"], len(rank)), s["name"]))


def _failed(section: dict[str, Any]) -> bool:
    if any(e.get("fatal") for e in section.get("errors", [])):
        return True
    return any(not c["passed"] for r in section.get("results", []) for c in r.get("checks", []))


def _document(
    command: str, commit: str, pg_version: str | None, sections: list[Any]
) -> dict[str, Any]:
    return {
        "format": report.FORMAT,
        "generated_at": utc_stamp(),
        "commit": commit,
        "command": command,
        "machine": machine_facts(pg_version),
        "sections": sections,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Run shipmate's benchmarks and write docs/benchmarks.md.",
    )
    parser.add_argument("--only", metavar="NAME[,NAME]", help="run only these benchmarks")
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument(
        "--backends", default="sqlite,postgres", help="database backends (default: %(default)s)"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown report")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="JSON results")
    parser.add_argument(
        "--render", action="store_true", help="rewrite the report from the JSON; measure nothing"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    discover()
    benchmarks = registered()
    if args.list:
        for b in benchmarks:
            scope = "per backend" if b.per_backend else "once"
            print(f"{b.name:12} {b.title} ({scope})")
        return 0
    try:
        chosen = select(benchmarks, args.only)
        backends = parse_backends(args.backends)
    except UsageError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2

    previous: dict[str, Any] | None = None
    if args.results.is_file():
        try:
            previous = report.load(args.results)
        except (ValueError, KeyError) as exc:
            print(f"bench: ignoring {args.results}: {exc}", file=sys.stderr)

    if args.render:
        if previous is None:
            print(f"bench: error: --render needs {args.results}; run once first", file=sys.stderr)
            return 2
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report.render(previous), encoding="utf-8")
        print(f"wrote {args.output}")
        return 0

    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    command = "python -m bench.run" + (" " + " ".join(argv or sys.argv[1:])).rstrip()
    print(f"shipmate benchmarks: {', '.join(b.name for b in chosen)} on {', '.join(backends)}")
    databases = Databases()
    fresh: list[dict[str, Any]] = []
    pg_version: str | None = (previous or {}).get("machine", {}).get("postgresql")
    order = [b.name for b in benchmarks]
    # The code measured is the code checked out when the run starts.
    commit = git_commit(REPO)
    document = _document(command, commit, pg_version, merge(previous, fresh, order))
    try:
        for bench in chosen:
            fresh.append(run_section(bench, backends, databases, args.quick, in_ci, commit))
            if databases.postgres_started:
                pg_version = postgres_version(databases.postgres().url)
            # Saved after every section, so an interrupted run keeps what it measured.
            document = _document(command, commit, pg_version, merge(previous, fresh, order))
            report.save(document, args.results)
    finally:
        databases.close()

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report.render(document), encoding="utf-8")
    print(f"\nwrote {args.output} and {args.results}")
    failed = [s["name"] for s in fresh if _failed(s)]
    if failed:
        print(f"bench: FAILED: {', '.join(failed)} (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
