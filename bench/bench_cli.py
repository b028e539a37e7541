"""CLI start-up: what CI pays per call, each command against ``python -c pass``.

CI calls the CLI several times per pipeline, so its start-up is a feature.  The
baseline is the same interpreter starting and doing nothing (``site`` and the
virtualenv's ``.pth`` files included), measured in the same run, interleaved
with the commands, so the ratio is what shipmate adds.  Remote commands also stand
beside ``curl`` sending the same request to the same server: what an HTTP client
written in C pays for the round trip alone.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.registry import BenchRun, Check, Result, Target, benchmark
from bench.stats import median, percentile
from tests.support.server import ServerProcess

__all__ = ["bench_cli", "import_costs"]

#: The bounds on the ratio to ``python -c pass``.
HELP_TARGET = Target("ratio_max", 2.0)
REMOTE_TARGET = Target("ratio_max", 3.0)
LOCAL_TARGET = Target("ratio_max", 6.0)
NEXT_ARGS = ("version", "next", "--product", "bench", "--version", "1.0.0", "--no-file")
RECORD_ARGS = (
    *("record", "--product", "bench", "--version", "1.0.0"),
    *("--env", "ci", "--status", "completed"),
)
#: What ``curl`` sends for each remote command: the body the API needs for the same write.
CURL_REQUESTS = {
    "remote next": ("/api/v1/builds", {"product": "bench-curl", "version": "1.0.0"}),
    "remote record": (
        "/api/v1/deployments",
        {"product": "bench-curl", "version": "1.0.0", "environment": "ci", "status": "completed"},
    ),
}

#: Variables that would point the CLI at another database, server or CI run.
_LEAKY_PREFIXES = (
    "SHIPMATE_",
    "GITHUB_",
    "GITLAB_",
    "CI_",
    "JENKINS_",
    "BUILD_",
    "CIRCLE",
    "BUILDKITE",
    "TF_BUILD",
    "SYSTEM_",
    "BITBUCKET_",
)

METHOD = """
Each command is started as a fresh process (the virtualenv's interpreter for the
baseline, its `shipmate` console script for the others), stdout and stderr captured, and
timed from `subprocess.run` to exit with `time.perf_counter`: `python -c pass` (the
baseline: interpreter, `site`, the virtualenv's `.pth` files); `shipmate --help`; in
local mode, against a migrated temporary SQLite database (`SHIPMATE_DATABASE_URL`),
`shipmate version next --product bench --version 1.0.0 --no-file`, `shipmate record
--product bench --version 1.0.0 --env ci --status completed`, `shipmate history` and
`shipmate current`; in remote mode, against a real `shipmate serve` (one worker, its own
SQLite database, on loopback; `SHIPMATE_URL`, the key in `SHIPMATE_TOKEN_FILE`), the same
`version next` and `record`; and `curl -sf` sending each remote command's request (the
same method and path, a JSON body with the same product, version, environment and
status, the same bearer key) to the same server. Everything runs in an empty directory
that is not a git checkout (so the git lookup fails fast) with CI variables removed,
and with the bytecode of every module cached (`PYTHONDONTWRITEBYTECODE` removed, as an
installed package has it). The commands are interleaved, rotating which goes first,
after 3 warm-up runs each; the table gives the median and the 90th percentile of the
runs and their ratios to the baseline's (and, for remote commands, the median's ratio
to curl's). Every command must exit 0, and the build numbers `version next` prints must
run 1..N in order in each mode. `python -c 'import sqlalchemy'` is there as the floor
of every local command (the store is SQLAlchemy Core). The notes give each command's
median CPU time too (user + system of the process and its children, from
`getrusage`), which a loaded machine distorts less than wall time. The import costs
listed come from one `python -X importtime` run of the command (cumulative time of each
top-level import).
"""


def _environment(scratch: Path, database_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_LEAKY_PREFIXES)
        and k not in ("CI", "JENKINS_URL", "GIT_DIR", "PYTHONDONTWRITEBYTECODE")
    }
    env["SHIPMATE_DATABASE_URL"] = database_url
    env["SHIPMATE_DATA_DIR"] = str(scratch / "data")
    env["GIT_CEILING_DIRECTORIES"] = str(scratch.parent)
    return env


def _remote_environment(local: dict[str, str], url: str, token_file: Path) -> dict[str, str]:
    env = {k: v for k, v in local.items() if k != "SHIPMATE_DATABASE_URL"}
    env["SHIPMATE_URL"] = url
    env["SHIPMATE_TOKEN_FILE"] = str(token_file)
    return env


def _key(database_url: str, token_file: Path) -> str:
    """A write key on the server's database, also written (mode 600) to ``token_file``."""
    from shipmate.config import Settings
    from shipmate.services.auth.keys import create_key
    from shipmate.services.context import open_context

    ctx = open_context(Settings(database_url=database_url))
    try:
        token = create_key(ctx, "bench-cli", "write", created_by="bench").token
    finally:
        ctx.close()
    token_file.write_text(token + "\n", encoding="utf-8")
    token_file.chmod(0o600)
    return token


def _curl(base: str, token: str, path: str, body: dict[str, str]) -> list[str]:
    curl = shutil.which("curl")
    if curl is None:
        raise RuntimeError("curl is not installed (bench/install-tools.sh installs it)")
    return [
        curl,
        "-sf",
        "-X",
        "POST",
        "-H",
        f"Authorization: Bearer {token}",
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps(body),
        base + path,
    ]


def _script() -> Path:
    beside = Path(sys.executable).parent / "shipmate"
    if beside.is_file():
        return beside
    found = shutil.which("shipmate")
    if found is None:
        raise RuntimeError(
            "the shipmate console script is not installed (run `make install` first)"
        )
    return Path(found)


def _time(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """Wall time and CPU time (user + system of the process and its children), in ms,
    and the standard output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = (time.perf_counter() - t0) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()[-500:]}"
        )
    return elapsed, cpu, done.stdout


def import_costs(
    python: str, cmd: list[str], env: dict[str, str], cwd: Path, top: int = 6
) -> list[str]:
    """The ``top`` top-level imports of ``python -X importtime *cmd`` by cumulative
    time, as "`name` 12.3 ms"."""
    done = subprocess.run(
        [python, "-X", "importtime", *cmd],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    costs: list[tuple[int, str]] = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)", line)
        if match and match.group(3) == "":
            costs.append((int(match.group(2)), match.group(4)))
    costs.sort(reverse=True)
    return [f"`{name}` {micro / 1000:.1f} ms" for micro, name in costs[:top]]


#: (name, label, targets) of each figure, in the order the table lists them.
FIGURES = (
    ("help", "`shipmate --help`", (HELP_TARGET,)),
    ("remote next", "`shipmate version next` (remote)", (REMOTE_TARGET,)),
    ("remote record", "`shipmate record` (remote)", (REMOTE_TARGET,)),
    ("next", "`shipmate version next` (SQLite)", (LOCAL_TARGET,)),
    ("record", "`shipmate record` (SQLite)", (LOCAL_TARGET,)),
    ("history", "`shipmate history` (SQLite)", (LOCAL_TARGET,)),
    ("current", "`shipmate current` (SQLite)", (LOCAL_TARGET,)),
    ("sqlalchemy", "`python -c 'import sqlalchemy'` (what every local command imports)", ()),
)


@benchmark("cli", title="CLI start-up", method=METHOD, order=30)
def bench_cli(run: BenchRun) -> list[Result]:
    runs = run.pick(25, 6)
    run.param("runs per command", runs)
    url = run.databases.fresh("sqlite", "bench_cli")
    server_url = run.databases.fresh("sqlite", "bench_cli_server")
    scratch = run.databases.scratch_dir("cli")
    env = _environment(scratch, url)
    token_file = scratch / "token"
    token = _key(server_url, token_file)
    python = sys.executable
    script = str(_script())
    server = ServerProcess(
        server_url, log_path=scratch / "server.log", env={"SHIPMATE_DATA_DIR": str(scratch)}
    )
    with server:
        remote_env = _remote_environment(env, server.base_url, token_file)
        commands: dict[str, tuple[list[str], dict[str, str]]] = {
            "pass": ([python, "-c", "pass"], env),
            "sqlalchemy": ([python, "-c", "import sqlalchemy"], env),
            "help": ([script, "--help"], env),
            "next": ([script, *NEXT_ARGS], env),
            "record": ([script, *RECORD_ARGS], env),
            "history": ([script, "history"], env),
            "current": ([script, "current"], env),
            "remote next": ([script, *NEXT_ARGS], remote_env),
            "remote record": ([script, *RECORD_ARGS], remote_env),
        }
        for name, (path, body) in CURL_REQUESTS.items():
            commands[f"curl {name}"] = (_curl(server.base_url, token, path, body), env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        printed: dict[str, list[str]] = {"next": [], "remote next": []}
        names = list(commands)
        for i in range(3 + runs):
            turn = i % len(names)
            for name in names[turn:] + names[:turn]:
                cmd, cmd_env = commands[name]
                elapsed, used, out = _time(cmd, cmd_env, scratch)
                if name in printed:
                    printed[name].append(out.strip())
                if i >= 3:
                    times[name].append(elapsed)
                    cpu[name].append(used)
        costs = {
            name: import_costs(python, commands[name][0], commands[name][1], scratch)
            for name in ("help", "remote record", "record")
        }
    run.log(
        "medians: "
        + ", ".join(f"{n} {median(t):.1f} ms" for n, t in times.items())
        + f" over {runs} runs"
    )
    expected = [f"1.0.0+build.{n}" for n in range(1, 3 + runs + 1)]
    checks = {
        name: Check(
            f"`version next` ({mode}) exited 0 all {3 + runs} times and printed "
            f"1.0.0+build.1 .. 1.0.0+build.{3 + runs} in order",
            printed[name] == expected,
        )
        for name, mode in (("next", "SQLite"), ("remote next", "remote"))
    }
    base = times["pass"]
    results: list[Result] = []
    for name, label, targets in FIGURES:
        notes: list[str] = []
        if costs.get(name):
            notes.append("slowest top-level imports: " + ", ".join(costs[name]))
        curl = times.get(f"curl {name}")
        if curl:
            notes.append(
                f"curl sending the same request: median {median(curl):.1f} ms; "
                f"this command is {median(times[name]) / median(curl):.2f}× curl"
            )
        check = checks.get(name)
        notes.append(
            f"CPU time (user + system, the command and its children): median "
            f"{median(cpu[name]):.1f} ms against {median(cpu['pass']):.1f} ms, "
            f"{median(cpu[name]) / median(cpu['pass']):.2f}×"
        )
        results.append(
            Result(
                figure=f"{label} · median wall time",
                value=median(times[name]),
                unit="ms",
                baseline=median(base),
                baseline_name="python -c pass",
                targets=targets,
                higher_is_better=False,
                samples=tuple(times[name]),
                baseline_samples=tuple(base),
                extra={
                    "cpu_median_ms": median(cpu[name]),
                    "baseline_cpu_median_ms": median(cpu["pass"]),
                    **({"curl_median_ms": median(curl)} if curl else {}),
                },
                checks=(check,) if check else (),
                note="; ".join(notes),
            )
        )
        results.append(
            Result(
                figure=f"{label} · p90 wall time",
                value=percentile(times[name], 90),
                unit="ms",
                baseline=percentile(base, 90),
                baseline_name="python -c pass",
                higher_is_better=False,
            )
        )
    return results
