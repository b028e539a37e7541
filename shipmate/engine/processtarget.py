"""The ``process`` target: one supervised background process per slot.

Files, under ``<state_dir>/<product>/<slot>/``:

* ``pid.json``: the process's pid, its start time from /proc, the boot id, and the
  release it runs.  A pid is only trusted when the start time still matches, so a
  recycled pid is never mistaken for (or signalled as) our app.
* ``app.log``: the app's stdout and stderr; the previous run's log is kept as
  ``app.log.1``.

The app runs in its own session (``start_new_session``), so it outlives the
shipmate command that started it and ignores that terminal's hang-up.  Stopping
sends SIGTERM to the whole process group, waits ``stop_timeout`` seconds, then
sends SIGKILL.  Before starting, the slot's port must be free: a stale server on it
would otherwise answer the health check in the new version's place.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipmate.domain.deployconfig import ProcessTargetConfig
from shipmate.domain.templates import render, render_argv
from shipmate.engine import procfs
from shipmate.engine.atomicfiles import write_file_atomic
from shipmate.engine.release import DeployContext, Release, inherited_env
from shipmate.engine.targetbase import Target
from shipmate.errors import ArtifactMissingError, DeployError

__all__ = ["ProcessTarget", "RunningProcess", "port_in_use"]

_KILL_WAIT = 5.0
_POLL = 0.05


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


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class ProcessTarget(Target):
    def __init__(
        self,
        config: ProcessTargetConfig,
        context: DeployContext,
        *,
        base_env: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.context = context
        self.base_env = inherited_env(base_env)
        self._sleep = sleep
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # -- files ---------------------------------------------------------------------------

    def pid_file(self, slot: str) -> Path:
        return self.context.slot_dir(slot) / "pid.json"

    def log_file(self, slot: str) -> Path:
        return self.context.slot_dir(slot) / "app.log"

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
            path = render(self.config.artifact, values)
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
        current = self.process(slot)
        if current is not None and current.alive():
            if current.full_version == release.full_version:
                return
            self.stop(slot)
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
        argv = render_argv(self.config.command, values)
        cwd = render(self.config.cwd, values) if self.config.cwd else None
        if cwd is not None and not os.path.isdir(cwd):
            raise ArtifactMissingError(
                f"{release.product} {release.full_version}: working folder {cwd} does not exist",
                field="deploy.target.cwd",
                path=cwd,
            )
        env = dict(self.base_env)
        env.update({k: render(v, values) for k, v in self.config.env.items()})
        env.update(self.context.app_env(release, slot))
        proc = self._spawn(argv, cwd, env, slot, release)
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
                raise DeployError(
                    f"{release.product} {release.full_version} could not be started in slot "
                    f"{slot}: {argv[0]}: {exc.strerror}",
                    field="deploy.target.command",
                    slot=slot,
                ) from None
        self._children[proc.pid] = proc
        return proc

    def stop(self, slot: str) -> None:
        record = self.process(slot)
        if record is None:
            return
        if record.alive() or self._group(record):
            self._terminate(record)
        with contextlib.suppress(FileNotFoundError):
            self.pid_file(slot).unlink()

    def is_running(self, slot: str) -> bool:
        record = self.process(slot)
        if record is None:
            return False
        self._reap(record.pid)
        return record.alive()

    def running_version(self, slot: str) -> str | None:
        record = self.process(slot)
        if record is None or not self.is_running(slot):
            return None
        return record.full_version

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

    def _terminate(self, record: RunningProcess) -> None:
        self._signal(record, signal.SIGTERM)
        if self._wait_gone(record, self.config.stop_timeout):
            return
        self._signal(record, signal.SIGKILL)
        if not self._wait_gone(record, _KILL_WAIT):
            raise DeployError(
                f"process {record.pid} ({record.full_version}) did not exit after SIGKILL",
                pid=record.pid,
            )

    def _signal(self, record: RunningProcess, sig: signal.Signals) -> None:
        if record.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(record.pid, sig)
                return
        for pid in self._group(record):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def _wait_gone(self, record: RunningProcess, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if not record.alive() and not self._group(record):
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
