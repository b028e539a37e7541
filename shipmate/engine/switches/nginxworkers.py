"""Which nginx workers still serve an older configuration, read from /proc.

``nginx -s reload`` returns as soon as the master was signalled.  The master then
reads the configuration, starts new workers and tells the old ones to stop; an old
worker stops accepting connections, finishes the requests it holds and exits.
Until it has exited it may still send requests to the upstream it was started
with, so the slot traffic left must not be stopped before.

* :func:`pid_file_of` finds the master's pid file: the ``pid`` directive of the
  configuration nginx runs with (``nginx_conf``, else the one it was built with),
  else the pid path it was built with (``nginx -V``), else ``/run/nginx.pid``.
* :func:`find_master` reads it and checks that the process is an nginx master.
* :func:`workers` lists the master's workers: pid, start time, and whether nginx
  has marked it ``worker process is shutting down``.  A worker that existed
  before a reload belongs to the previous configuration even before the master
  got round to telling it (the snapshot the switch takes before reloading).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from shipmate.engine import procfs
from shipmate.engine.commands import run_command

__all__ = ["DEFAULT_PID_FILE", "Worker", "find_master", "pid_file_of", "workers"]

DEFAULT_PID_FILE = "/run/nginx.pid"

_PID_DIRECTIVE = re.compile(r"^\s*pid\s+([^;\s]+)\s*;", re.MULTILINE)
_BUILD_OPTION = re.compile(r"--(pid-path|conf-path|prefix)=(\S+)")


@dataclass(frozen=True)
class Worker:
    pid: int
    start_time: int
    shutting_down: bool

    @property
    def identity(self) -> tuple[int, int]:
        return self.pid, self.start_time


def _build_options(nginx_bin: str) -> dict[str, str]:
    outcome = run_command([nginx_bin, "-V"], timeout=10)
    return {m.group(1): m.group(2) for m in _BUILD_OPTION.finditer(outcome.output)}


def _pid_directive(conf: Path) -> str | None:
    try:
        text = conf.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    text = re.sub(r"#[^\n]*", "", text)
    match = _PID_DIRECTIVE.search(text)
    return match.group(1) if match else None


def pid_file_of(nginx_bin: str, nginx_conf: str | None) -> Path:
    """Where the nginx that ``nginx_bin`` (with ``nginx_conf``) runs keeps its master's pid."""
    options = _build_options(nginx_bin)
    prefix = Path(options.get("prefix", "/"))
    conf_path = nginx_conf or options.get("conf-path")
    if conf_path:
        conf = Path(conf_path) if Path(conf_path).is_absolute() else prefix / conf_path
        found = _pid_directive(conf)
        if found:
            return Path(found) if Path(found).is_absolute() else prefix / found
    built = options.get("pid-path")
    if built:
        return Path(built) if Path(built).is_absolute() else prefix / built
    return Path(DEFAULT_PID_FILE)


def find_master(pid_file: Path) -> int | None:
    """The master's pid, when the pid file names a running nginx master process."""
    try:
        pid = int(pid_file.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
    title = procfs.read_cmdline(pid)
    if title is None or not title.startswith("nginx: master process"):
        return None
    return pid


def workers(master: int) -> list[Worker]:
    """The master's worker processes (cache manager and loader left out)."""
    found: list[Worker] = []
    for pid in procfs.all_pids():
        stat = procfs.read_stat(pid)
        if stat is None or stat.ppid != master or stat.is_zombie:
            continue
        title = procfs.read_cmdline(pid) or ""
        if title.startswith("nginx: worker process"):
            found.append(Worker(pid, stat.start_time, "shutting down" in title))
    return found
