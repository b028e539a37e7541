"""Facts about the machine and the checkout a benchmark run measured.

Everything here is read, never written: /proc, /etc/os-release, the interpreter,
``git rev-parse`` / ``git status`` (read-only), and the PostgreSQL server the run
started (when it started one).
"""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from pathlib import Path

__all__ = ["git_commit", "machine_facts", "postgres_version"]


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def memory_gib() -> float | None:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / (1024 * 1024)
    return None


def os_name() -> str:
    pretty = ""
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            pretty = line.split("=", 1)[1].strip().strip('"')
    kernel = f"{platform.system()} {platform.release()}"
    return f"{pretty} ({kernel})" if pretty else kernel


def postgres_version(url: str) -> str:
    """``server_version`` as the server reports it."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


def git_commit(repo: Path) -> str:
    """The checked-out commit, with ``+dirty`` when the working tree has changes."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", "-C", str(repo), *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short=12", "HEAD")
    if not commit:
        return "unknown (not a git checkout)"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{commit}+dirty" if dirty else commit


def machine_facts(postgres: str | None) -> dict[str, str]:
    """The header facts of the report; ``postgres`` is the server version or None."""
    memory = memory_gib()
    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count() or "unknown"),
        "memory": "unknown" if memory is None else f"{memory:.1f} GiB",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres or "not used in this run",
        "os": os_name(),
    }
