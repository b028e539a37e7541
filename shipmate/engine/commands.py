"""Running one external command with a timeout, never through a shell.

Every command shipmate runs for a deploy (``docker``, ``nginx -t``, user scripts)
goes through :func:`run_command`: an argument list, a timeout after which the whole
process group is killed, output captured as text.  A program that cannot be found
or started is reported as an outcome (exit status 127/126), not an exception, so
callers turn every failure into their own error with the command's own words.
Bare program names are also looked up in the sbin folders, where nginx lives but
which are not always on a non-root ``PATH``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["CommandOutcome", "resolve_program", "run_command"]

_EXTRA_PATH = ("/usr/local/sbin", "/usr/sbin", "/sbin")
_MAX_OUTPUT = 64 * 1024


@dataclass(frozen=True)
class CommandOutcome:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def output(self) -> str:
        """stderr, or stdout when stderr is empty: what to show a person."""
        return (self.stderr.strip() or self.stdout.strip())[-4000:]

    def describe(self) -> str:
        """``'nginx -t' exited with status 1: <its message>``."""
        shown = " ".join(self.argv)
        if self.timed_out:
            head = f"{shown!r} did not finish in time and was killed"
        else:
            head = f"{shown!r} exited with status {self.returncode}"
        return f"{head}: {self.output}" if self.output else head


def resolve_program(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The executable a bare name or path refers to, or None."""
    if os.sep in name:
        return name if os.access(name, os.X_OK) and os.path.isfile(name) else None
    path = (env or os.environ).get("PATH", os.defpath)
    found = shutil.which(name, path=os.pathsep.join([path, *_EXTRA_PATH]))
    return found


def run_command(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> CommandOutcome:
    """Run ``argv`` and wait for it; kill its process group after ``timeout`` seconds."""
    args = tuple(argv)
    program = resolve_program(args[0], env)
    if program is None:
        return CommandOutcome(args, 127, "", f"{args[0]}: command not found")
    try:
        proc = subprocess.Popen(
            [program, *args[1:]],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        return CommandOutcome(args, 126, "", f"{args[0]}: cannot be started: {exc.strerror}")
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a grandchild left its own group, holding the pipes
            proc.kill()
            out, err = "", ""
        return CommandOutcome(args, -9, out[-_MAX_OUTPUT:], err[-_MAX_OUTPUT:], timed_out=True)
    return CommandOutcome(args, proc.returncode, out[-_MAX_OUTPUT:], err[-_MAX_OUTPUT:])
