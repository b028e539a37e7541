"""The ``process`` target: one supervised background process per slot.

Files, under ``<state_dir>/<product>/<slot>/``:

* ``pid.json``: the process's pid, its start time from /proc, the boot id, and the
  release it runs.  A pid is only trusted when the start time still matches, so a
  recycled pid is never mistaken for (or signalled as) our app.
* ``start.json``: the intent, written (durably) *before* the app is spawned and
  removed once ``pid.json`` names it: the release, the run, and a fresh start id.
* ``app.log``: the app's stdout and stderr; the previous run's log is kept as
  ``app.log.1``.

The app runs in its own session (``start_new_session``), so it outlives the
shipmate command that started it and ignores that terminal's hang-up.  Stopping
sends SIGTERM to the whole process group, waits ``stop_timeout`` seconds, then
sends SIGKILL.  Before starting, the slot's port must be free: a stale server on it
would otherwise answer the health check in the new version's place.

**No orphan, at any kill point.**  Every app is started with three variables that
its children inherit: ``SHIPMATE_SLOT_DIR`` (the slot's folder: this state folder,
this product, this slot), ``SHIPMATE_RUN_ID`` and ``SHIPMATE_START_ID``.  A process
carrying the slot's marker is found through ``/proc/<pid>/environ`` whatever
``pid.json`` says, so a shipmate killed between spawning the app and writing
``pid.json`` leaves an app the next start finds: the same release for the same
run is *adopted* (``pid.json`` is written for it), anything else marked for the
slot is stopped before a new app is spawned, and ``stop`` stops every marked
process as well as the recorded one.  ``is_running`` and ``running_version``
look for marked processes while ``start.json`` is there.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipmate.domain.deploy.model import ProcessTargetConfig
from shipmate.engine import procfs
from shipmate.engine.atomicfiles import write_file_atomic
from shipmate.engine.killpoints import kill_point
from shipmate.engine.pathguard import render_argv_guarded, render_guarded
from shipmate.engine.release import DeployContext, Release
from shipmate.engine.targets.base import ConfiguredTarget, start_failed
from shipmate.errors import ArtifactMissingError, DeployError

__all__ = [
    "MARK_RUN",
    "MARK_SLOT",
    "MARK_START",
    "ProcessTarget",
    "RunningProcess",
    "StartIntent",
    "port_in_use",
]

_KILL_WAIT = 5.0
_POLL = 0.05

#: The variables every started app (and whatever it starts) carries.
MARK_SLOT = "SHIPMATE_SLOT_DIR"
MARK_RUN = "SHIPMATE_RUN_ID"
MARK_START = "SHIPMATE_START_ID"


@dataclass(frozen=True)
class RunningProcess:
    """What ``pid.json`` records about the process in a slot."""

    pid: int
    start_time: int
    boot_id: str
    full_version: str
    version: str
    argv: tuple[str, ...]

    def alive(self) -> bool:
        return procfs.identity_alive(self.pid, self.start_time, self.boot_id)

    def to_json(self) -> str:
        return json.dumps(
            {
                "pid": self.pid,
                "start_time": self.start_time,
                "boot_id": self.boot_id,
                "full_version": self.full_version,
                "version": self.version,
                "argv": list(self.argv),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> RunningProcess | None:
        try:
            data: Any = json.loads(text)
            return cls(
                pid=int(data["pid"]),
                start_time=int(data["start_time"]),
                boot_id=str(data.get("boot_id", "")),
                full_version=str(data["full_version"]),
                version=str(data["version"]),
                argv=tuple(str(a) for a in data.get("argv", [])),
            )
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class StartIntent:
    """What ``start.json`` records before an app is spawned."""

    start_id: str
    full_version: str
    run_id: str
    argv: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "start_id": self.start_id,
                "full_version": self.full_version,
                "run_id": self.run_id,
                "argv": list(self.argv),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> StartIntent | None:
        try:
            data: Any = json.loads(text)
            return cls(
                start_id=str(data["start_id"]),
                full_version=str(data["full_version"]),
                run_id=str(data.get("run_id", "")),
                argv=tuple(str(a) for a in data.get("argv", [])),
            )
        except (ValueError, KeyError, TypeError):
            return None


def _run_mark(release: Release) -> str:
    return "" if release.run_id is None else str(release.run_id)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class ProcessTarget(ConfiguredTarget[ProcessTargetConfig]):
    def __init__(
        self,
        config: ProcessTargetConfig,
        context: DeployContext,
        *,
        base_env: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(config, context, base_env=base_env)
        self._sleep = sleep
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # -- files ---------------------------------------------------------------------------

    def pid_file(self, slot: str) -> Path:
        return self.context.slot_dir(slot) / "pid.json"

    def intent_file(self, slot: str) -> Path:
        return self.context.slot_dir(slot) / "start.json"

    def log_file(self, slot: str) -> Path:
        return self.context.slot_dir(slot) / "app.log"

    def marker(self, slot: str) -> str:
        """The value of :data:`MARK_SLOT` for processes of ``slot``."""
        return str(self.context.slot_dir(slot).resolve())

    def marked(self, slot: str) -> list[procfs.Marked]:
        """Every live process carrying ``slot``'s marker (the app and its children)."""
        return procfs.find_marked(MARK_SLOT, self.marker(slot))

    def intent(self, slot: str) -> StartIntent | None:
        try:
            return StartIntent.from_json(self.intent_file(slot).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def process(self, slot: str) -> RunningProcess | None:
        """The recorded process of ``slot`` (alive or not), or None."""
        try:
            return RunningProcess.from_json(self.pid_file(slot).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def log_tail(self, slot: str, lines: int = 20) -> str:
        try:
            text = self.log_file(slot).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- Target --------------------------------------------------------------------------

    def check_artifact(self, release: Release) -> None:
        values = self.context.values(release=release)
        if self.config.artifact is not None:
            path = render_guarded(self.config.artifact, values, field="deploy.target.artifact")
            if not os.path.exists(path):
                raise ArtifactMissingError(
                    f"{release.product} {release.full_version}: {path} does not exist",
                    field="deploy.target.artifact",
                    path=path,
                )
        program = self.config.command[0]
        if "{" in program:
            return
        if os.sep not in program:
            path_var = self.base_env.get("PATH", os.defpath)
            if shutil.which(program, path=path_var) is None:
                raise ArtifactMissingError(
                    f"{release.product}: the command {program!r} is not on PATH",
                    field="deploy.target.command",
                )
        elif os.path.isabs(program) and not os.access(program, os.X_OK):
            raise ArtifactMissingError(
                f"{release.product}: {program} does not exist or is not executable",
                field="deploy.target.command",
            )

    def start(self, release: Release, slot: str) -> None:
        kill_point("process.start")
        current = self.process(slot)
        if current is not None and current.alive():
            if current.full_version == release.full_version:
                with contextlib.suppress(FileNotFoundError):
                    self.intent_file(slot).unlink()  # a start cut off after pid.json
                return
            self.stop(slot)
        elif self._adopt(release, slot):
            return
        else:
            self.stop(slot)  # whatever an earlier, interrupted start left behind
        port = self.context.port(slot)
        if port_in_use(port):
            raise DeployError(
                f"port {port} of slot {slot} is already in use by a process shipmate did not "
                "start; stop it or give the slot another port",
                field=f"deploy.slots.{slot}",
                port=port,
                slot=slot,
            )
        values = self.context.values(slot=slot, release=release)
        argv = render_argv_guarded(self.config.command, values, field="deploy.target.command")
        cwd = (
            render_guarded(self.config.cwd, values, field="deploy.target.cwd")
            if self.config.cwd
            else None
        )
        if cwd is not None and not os.path.isdir(cwd):
            raise ArtifactMissingError(
                f"{release.product} {release.full_version}: working folder {cwd} does not exist",
                field="deploy.target.cwd",
                path=cwd,
            )
        intent = StartIntent(
            secrets.token_hex(8), release.full_version, _run_mark(release), tuple(argv)
        )
        env = dict(self.base_env)
        env.update(
            {
                k: render_guarded(v, values, field=f"deploy.target.env.{k}")
                for k, v in self.config.env.items()
            }
        )
        env.update(self.context.app_env(release, slot))
        env.update(
            {
                MARK_SLOT: self.marker(slot),
                MARK_RUN: intent.run_id,
                MARK_START: intent.start_id,
            }
        )
        write_file_atomic(self.intent_file(slot), intent.to_json())
        kill_point("process.intent")
        proc = self._spawn(argv, cwd, env, slot, release)
        kill_point("process.spawned")
        stat = procfs.read_stat(proc.pid)
        record = RunningProcess(
            pid=proc.pid,
            start_time=stat.start_time if stat else -1,
            boot_id=procfs.boot_id(),
            full_version=release.full_version,
            version=release.version,
            argv=tuple(argv),
        )
        write_file_atomic(self.pid_file(slot), record.to_json())
        kill_point("process.recorded")
        with contextlib.suppress(FileNotFoundError):
            self.intent_file(slot).unlink()

    def _adopt(self, release: Release, slot: str) -> bool:
        """Take over the app an interrupted start of this release, by this run, spawned."""
        marked = self.marked(slot)
        leaders = [
            m
            for m in marked
            if m.is_group_leader
            and m.env.get("SHIPMATE_FULL_VERSION") == release.full_version
            and m.env.get(MARK_RUN, "") == _run_mark(release)
        ]
        if len(leaders) != 1:
            return False
        leader = leaders[0]
        start_id = leader.env.get(MARK_START)
        if any(m.env.get(MARK_START) != start_id for m in marked):
            return False  # processes of another start too: stop them all, start afresh
        intent = self.intent(slot)
        record = RunningProcess(
            pid=leader.pid,
            start_time=leader.stat.start_time,
            boot_id=procfs.boot_id(),
            full_version=release.full_version,
            version=release.version,
            argv=intent.argv if intent is not None and intent.start_id == start_id else (),
        )
        write_file_atomic(self.pid_file(slot), record.to_json())
        kill_point("process.adopted")
        with contextlib.suppress(FileNotFoundError):
            self.intent_file(slot).unlink()
        return True

    def _spawn(
        self, argv: list[str], cwd: str | None, env: dict[str, str], slot: str, release: Release
    ) -> subprocess.Popen[bytes]:
        log = self.log_file(slot)
        log.parent.mkdir(parents=True, exist_ok=True)
        if log.exists():
            os.replace(log, log.with_name(log.name + ".1"))
        with open(log, "ab") as out:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            out.write(f"# shipmate: {release.full_version} in {slot} at {stamp}\n".encode())
            out.flush()
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as exc:
                raise start_failed(release, slot, f"{argv[0]}: {exc.strerror}", "command") from None
        self._children[proc.pid] = proc
        return proc

    def stop(self, slot: str) -> None:
        record = self.process(slot)
        if self._live(record, slot):
            self._terminate(record, slot)
        kill_point("process.stopped")
        for path in (self.pid_file(slot), self.intent_file(slot)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def is_running(self, slot: str) -> bool:
        return self.running_version(slot) is not None

    def running_version(self, slot: str) -> str | None:
        record = self.process(slot)
        if record is not None:
            self._reap(record.pid)
            if record.alive():
                return record.full_version
        if self.intent_file(slot).exists():  # a start was cut off: look for what it spawned
            for found in self.marked(slot):
                if found.is_group_leader:
                    return found.env.get("SHIPMATE_FULL_VERSION") or "unknown"
        return None

    # -- stopping ------------------------------------------------------------------------

    def _group(self, record: RunningProcess) -> list[int]:
        """Live members of the app's process group (its own children included)."""
        if record.boot_id and record.boot_id != procfs.boot_id():
            return []
        self._reap(record.pid)
        leader = procfs.read_stat(record.pid)
        if leader is not None and leader.start_time != record.start_time:
            return []  # the pid was given to another process: this group is not ours
        return procfs.group_members(record.pid, started_since=record.start_time)

    def _live(self, record: RunningProcess | None, slot: str) -> dict[int, tuple[int, bool]]:
        """pid -> (start time, group leader) of everything of ``slot`` still running."""
        live: dict[int, tuple[int, bool]] = {}
        if record is not None:
            if record.alive():
                live[record.pid] = (record.start_time, True)
            for pid in self._group(record):
                stat = procfs.read_stat(pid)
                if stat is not None:
                    live.setdefault(pid, (stat.start_time, pid == stat.pgrp))
        for found in self.marked(slot):
            live.setdefault(found.pid, (found.stat.start_time, found.is_group_leader))
        return live

    def _terminate(self, record: RunningProcess | None, slot: str) -> None:
        self._signal(record, slot, signal.SIGTERM)
        kill_point("process.signalled")
        if self._wait_gone(record, slot, self.config.stop_timeout):
            return
        self._signal(record, slot, signal.SIGKILL)
        if not self._wait_gone(record, slot, _KILL_WAIT):
            left = ", ".join(str(pid) for pid in self._live(record, slot))
            raise DeployError(
                f"slot {slot}: processes {left} did not exit after SIGKILL",
                slot=slot,
            )

    def _signal(self, record: RunningProcess | None, slot: str, sig: signal.Signals) -> None:
        for pid, (start_time, leader) in self._live(record, slot).items():
            if not procfs.identity_alive(pid, start_time):
                continue  # gone, or the pid now names another process
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if leader:
                    os.killpg(pid, sig)
                else:
                    os.kill(pid, sig)

    def _wait_gone(self, record: RunningProcess | None, slot: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if not self._live(record, slot):
                return True
            if time.monotonic() >= deadline:
                return False
            self._sleep(_POLL)

    def _reap(self, pid: int) -> None:
        """Collect the exit status of a child of ours, so it stops being a zombie."""
        child = self._children.get(pid)
        if child is not None:
            if child.poll() is not None:
                del self._children[pid]
            return
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
