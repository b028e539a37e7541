"""What Linux's /proc says about a process: alive, which one it is, its group.

A pid alone does not name a process: once it exits the kernel may give the number
to another one.  A process is identified here by ``(pid, start_time)``, where the
start time is field 22 of ``/proc/<pid>/stat`` (clock ticks since boot) and the
boot id tells one boot from the next.  A zombie (exited, not yet reaped) counts as
not running.

:func:`read_environ` and :func:`read_cmdline` read what a process was started with
and what it calls itself (nginx names its workers there); both answer None for a
process that is gone or not ours to read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Marked",
    "ProcStat",
    "all_pids",
    "boot_id",
    "find_marked",
    "group_members",
    "identity_alive",
    "read_cmdline",
    "read_environ",
    "read_stat",
]

_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    state: str
    pgrp: int
    start_time: int
    ppid: int = 0

    @property
    def is_zombie(self) -> bool:
        return self.state in ("Z", "X", "x")


def read_stat(pid: int) -> ProcStat | None:
    """The process's stat line, or None when there is no such process."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces or ")".
    close = raw.rfind(")")
    if close < 0:
        return None
    fields = raw[close + 2 :].split()
    # fields[0] is field 3 (state); field N is fields[N - 3].
    try:
        return ProcStat(
            pid=pid,
            state=fields[0],
            pgrp=int(fields[2]),
            start_time=int(fields[19]),
            ppid=int(fields[1]),
        )
    except (IndexError, ValueError):
        return None


def boot_id() -> str:
    try:
        return (_PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return ""


def identity_alive(pid: int, start_time: int, boot: str = "") -> bool:
    """True when ``pid`` is running and is the process that started at ``start_time``."""
    if boot and boot_id() and boot != boot_id():
        return False
    stat = read_stat(pid)
    return stat is not None and not stat.is_zombie and stat.start_time == start_time


def all_pids() -> list[int]:
    """Every process id /proc lists now."""
    try:
        return [int(entry) for entry in os.listdir(_PROC) if entry.isdigit()]
    except OSError:
        return []


def read_environ(pid: int) -> dict[str, str] | None:
    """The environment ``pid`` was started with, or None (gone, a zombie, or not readable)."""
    try:
        raw = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    if not raw:
        return None  # a zombie, or a kernel thread
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        name, sep, value = item.partition(b"=")
        if sep:
            env[name.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return env


@dataclass(frozen=True)
class Marked:
    """A live process whose environment carries a marker, with its stat and environment."""

    stat: ProcStat
    env: dict[str, str]

    @property
    def pid(self) -> int:
        return self.stat.pid

    @property
    def is_group_leader(self) -> bool:
        return self.stat.pgrp == self.stat.pid


def find_marked(name: str, value: str) -> list[Marked]:
    """Every live process started with ``name=value`` in its environment (its children too)."""
    found: list[Marked] = []
    own = os.getpid()
    for pid in all_pids():
        if pid == own:
            continue
        env = read_environ(pid)
        if env is None or env.get(name) != value:
            continue
        stat = read_stat(pid)
        if stat is not None and not stat.is_zombie:
            found.append(Marked(stat, env))
    return found


def read_cmdline(pid: int) -> str | None:
    """The process's command line, arguments joined by spaces (its title, for nginx)."""
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def group_members(pgid: int, *, started_since: int = 0) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid`` started at or after a tick.

    ``started_since`` guards against a recycled group id: members of *our* group
    cannot have started before the group's leader did.
    """
    members: list[int] = []
    try:
        entries = os.listdir(_PROC)
    except OSError:
        return members
    for entry in entries:
        if not entry.isdigit():
            continue
        stat = read_stat(int(entry))
        if (
            stat is not None
            and stat.pgrp == pgid
            and not stat.is_zombie
            and stat.start_time >= started_since
        ):
            members.append(stat.pid)
    return members
