"""Shell release actions: a command or a ``#!`` script run as a local process.

The body runs through ``/bin/sh -c`` in its own process group, with exactly the
environment it is given (the caller builds it: the step's ``SHIPMATE_DEP_*`` flags
and versions, the app's configured variables, the inherited environment without
shipmate's own ``SHIPMATE_*`` settings).  A body starting with ``#!`` is a script:
it is written to a private temporary file and executed, so its interpreter line
counts.  stdout and stderr are captured together, bounded to
:data:`MAX_OUTPUT_BYTES` (the first :data:`HEAD_BYTES` and the rest from the end,
with a marker saying how much was left out).  After ``timeout`` seconds the
process group gets SIGTERM, then SIGKILL five seconds later.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping

from shipmate.engine.action_outcome import ActionOutcome, ms_since

__all__ = ["HEAD_BYTES", "MAX_OUTPUT_BYTES", "run_shell"]

#: Most output kept per action (bytes, before decoding).
MAX_OUTPUT_BYTES = 64 * 1024
#: How much of the start of the output is kept when it is longer than the limit.
HEAD_BYTES = 8 * 1024
#: Seconds between SIGTERM and SIGKILL for a shell action that ran out of time.
KILL_GRACE_SECONDS = 5.0
#: Seconds output is still read after the shell exited (children may hold the pipe).
DRAIN_AFTER_EXIT_SECONDS = 2.0


class _BoundedOutput:
    """Keeps the first ``head`` bytes and the last ``limit - head`` bytes."""

    def __init__(self, limit: int = MAX_OUTPUT_BYTES, head: int = HEAD_BYTES) -> None:
        self._head_limit = head
        self._tail_limit = limit - head
        self._head = bytearray()
        self._tail = bytearray()
        self._dropped = 0

    def add(self, chunk: bytes) -> None:
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self._tail += chunk
        excess = len(self._tail) - self._tail_limit
        if excess > 0:
            del self._tail[:excess]
            self._dropped += excess

    def text(self) -> str:
        head = self._head.decode("utf-8", errors="replace")
        tail = self._tail.decode("utf-8", errors="replace")
        if self._dropped:
            return f"{head}\n… {self._dropped} bytes of output left out …\n{tail}"
        return head + tail


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_GRACE_SECONDS)
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_GRACE_SECONDS)


def _collect(proc: subprocess.Popen[bytes], timeout: float) -> tuple[str, bool]:
    """Read the merged output until EOF (or shortly after exit); kill on timeout."""
    assert proc.stdout is not None
    out = _BoundedOutput()
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    deadline = time.monotonic() + timeout
    exited_at: float | None = None
    timed_out = False
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        eof = False
        while not eof:
            now = time.monotonic()
            if proc.poll() is not None:
                if exited_at is None:
                    exited_at = now
                elif now - exited_at >= DRAIN_AFTER_EXIT_SECONDS:
                    break
            elif now >= deadline:
                timed_out = True
                break
            for _key, _events in selector.select(timeout=0.1):
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    eof = True
                    break
                out.add(chunk)
    if not timed_out:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
    if timed_out:
        _kill_group(proc)
        with contextlib.suppress(OSError):
            while chunk := os.read(fd, 65536):
                out.add(chunk)
    proc.stdout.close()
    return out.text(), timed_out


def run_shell(
    body: str,
    *,
    env: Mapping[str, str],
    timeout: float,
    cwd: str | None = None,
) -> ActionOutcome:
    """Run a command (``sh -c``) or a ``#!`` script with ``env``; see the module doc."""
    started = time.monotonic()
    script: str | None = None
    try:
        if body.startswith("#!"):
            handle, script = tempfile.mkstemp(prefix="shipmate-action-", suffix=".sh")
            with os.fdopen(handle, "w", encoding="utf-8") as f:
                f.write(body)
            os.chmod(script, 0o700)
            argv = [script]
        else:
            argv = ["/bin/sh", "-c", body]
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            return ActionOutcome(
                ok=False,
                output="",
                error=f"the command could not be started: {exc.strerror or exc}",
                exit_code=126,
                duration_ms=ms_since(started),
            )
        output, timed_out = _collect(proc, timeout)
        code = proc.returncode
    finally:
        if script is not None:
            with contextlib.suppress(OSError):
                os.unlink(script)
    elapsed = ms_since(started)
    if timed_out:
        return ActionOutcome(
            ok=False,
            output=output,
            error=f"did not finish within {timeout:g} s and was stopped",
            exit_code=code,
            timed_out=True,
            duration_ms=elapsed,
        )
    if code != 0:
        last = _last_line(output)
        reason = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
        return ActionOutcome(
            ok=False,
            output=output,
            error=f"{reason}: {last}" if last else reason,
            exit_code=code,
            duration_ms=elapsed,
        )
    return ActionOutcome(ok=True, output=output, exit_code=0, duration_ms=elapsed)


def _last_line(text: str) -> str:
    for line in reversed(text.strip().splitlines()):
        if line.strip():
            return line.strip()[:500]
    return ""
