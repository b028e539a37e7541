"""CLI start-up: ``shipmate --help`` and ``shipmate version next`` against ``python -c pass``.

CI calls the CLI several times per pipeline, so its start-up is a feature.  The
baseline is the same interpreter starting and doing nothing (``site`` and the
virtualenv's ``.pth`` files included), measured in the same run, interleaved
with the commands, so the ratio is what shipmate adds.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.registry import BenchRun, Check, Result, Target, benchmark
from bench.stats import median, percentile

__all__ = ["bench_cli", "import_costs"]

HELP_TARGET = Target("ratio_max", 4.0)
NEXT_ARGS = ("version", "next", "--product", "bench", "--version", "1.0.0", "--no-file")

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
baseline, its `shipmate` console script for the others), stdout and stderr captured, and timed from `subprocess.run` to exit with
`time.perf_counter`: `python -c pass` (the baseline: interpreter, `site`, the
virtualenv's `.pth` files), `shipmate --help`, and `shipmate version next --product
bench --version 1.0.0 --no-file` against a migrated temporary SQLite database
(`SHIPMATE_DATABASE_URL`), run in an empty directory that is not a git checkout (so the
git lookup fails fast) with CI variables removed. The three are interleaved, rotating
which goes first, after 3 warm-up runs each; the table gives the median and the 90th
percentile of the runs and their ratios to the baseline's. Every `version next` must
exit 0 and the build numbers it prints must run 1..N in order. The import costs listed
come from one `python -X importtime` run of `shipmate --help` (cumulative time of each
top-level import).
"""


def _environment(scratch: Path, database_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_LEAKY_PREFIXES) and k not in ("CI", "JENKINS_URL", "GIT_DIR")
    }
    env["SHIPMATE_DATABASE_URL"] = database_url
    env["SHIPMATE_DATA_DIR"] = str(scratch / "data")
    env["GIT_CEILING_DIRECTORIES"] = str(scratch.parent)
    return env


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


def _time(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = (time.perf_counter() - t0) * 1000
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()[-500:]}"
        )
    return elapsed, done.stdout


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


@benchmark("cli", title="CLI start-up", method=METHOD, order=30)
def bench_cli(run: BenchRun) -> list[Result]:
    runs = run.pick(30, 8)
    run.param("runs per command", runs)
    url = run.databases.fresh("sqlite", "bench_cli")
    scratch = run.databases.scratch_dir("cli")
    env = _environment(scratch, url)
    python = sys.executable
    script = str(_script())
    commands = {
        "pass": [python, "-c", "pass"],
        "help": [script, "--help"],
        "next": [script, *NEXT_ARGS],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    printed: list[str] = []
    names = list(commands)
    for i in range(3 + runs):
        for name in names[i % 3 :] + names[: i % 3]:
            elapsed, out = _time(commands[name], env, scratch)
            if name == "next":
                printed.append(out.strip())
            if i >= 3:
                times[name].append(elapsed)
    run.log(
        "medians: "
        + ", ".join(f"{n} {median(t):.1f} ms" for n, t in times.items())
        + f" over {runs} runs"
    )
    expected = [f"1.0.0+build.{n}" for n in range(1, 3 + runs + 1)]
    next_check = Check(
        f"`version next` exited 0 all {3 + runs} times and printed 1.0.0+build.1 .. "
        f"1.0.0+build.{3 + runs} in order",
        printed == expected,
    )
    costs = import_costs(python, commands["help"], env, scratch)
    base = times["pass"]
    results: list[Result] = []
    for name, label, targets in (
        ("help", "`shipmate --help`", (HELP_TARGET,)),
        ("next", "`shipmate version next` (SQLite)", ()),
    ):
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
                checks=(next_check,) if name == "next" else (),
                note=("slowest top-level imports: " + ", ".join(costs))
                if name == "help" and costs
                else "",
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
