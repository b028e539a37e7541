"""Running ``git`` the one way shipmate does: it can never prompt, hang or lock.

Git runs with ``LC_ALL=C`` (its messages are read), no terminal prompts, stdin
closed, no optional locks and a timeout.  Every failure is an outcome with one
line saying why (git's own first line, without ``fatal:``), never an exception.

Git is started with :func:`os.posix_spawn`, not :mod:`subprocess`: ``shipmate
record`` runs it in every CI job, and importing :mod:`subprocess` (with
:mod:`signal` and :mod:`threading`) would cost more than the call itself.  The
program is looked up on ``PATH`` and the output read as :func:`subprocess.run`
does (UTF-8, bad bytes replaced, universal newlines); ``cwd`` is given to git as
``-C``, which git documents as the same as starting there.
"""

from __future__ import annotations

import os
import select
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GitOutcome", "run_git"]


@dataclass(frozen=True)
class GitOutcome:
    """What one git command said, and why it failed when it did."""

    ok: bool
    #: What git printed (also when it failed); empty when it could not run.
    stdout: str
    #: One line saying why it failed; None when it succeeded.
    problem: str | None
    #: The git program itself was not found.
    git_missing: bool = False


def run_git(*args: str, timeout: float, cwd: Path | None = None) -> GitOutcome:
    """Run ``git args`` (in ``cwd``), waiting at most ``timeout`` seconds."""
    env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
    if cwd is not None and not os.path.isdir(cwd):
        return GitOutcome(False, "", f"{cwd} does not exist")
    program = _find_program("git", env)
    if program is None:
        return GitOutcome(False, "", "git is not installed", git_missing=True)
    argv = ["git", *(("-C", str(cwd)) if cwd is not None else ()), *args]
    try:
        returncode, out, err = _run(program, argv, env, timeout)
    except TimeoutError:
        return GitOutcome(False, "", f"git timed out after {timeout:g}s")
    except OSError as exc:
        return GitOutcome(False, "", f"git could not run: {exc.strerror or exc}")
    stdout, stderr = _text(out), _text(err)
    if returncode != 0:
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        problem = lines[0].removeprefix("fatal: ") if lines else f"git exited {returncode}"
        return GitOutcome(False, stdout, problem)
    return GitOutcome(True, stdout, None)


def _find_program(name: str, env: dict[str, str]) -> str | None:
    """The first executable ``name`` on ``env``'s ``PATH``, as :mod:`subprocess` finds it."""
    for folder in os.get_exec_path(env):
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _run(
    program: str, argv: list[str], env: dict[str, str], timeout: float
) -> tuple[int, bytes, bytes]:
    """Exit code, standard output and standard error of ``argv``; stdin is /dev/null.
    Raises :class:`TimeoutError` (the process killed and reaped) after ``timeout``."""
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    stdin = os.open(os.devnull, os.O_RDONLY)
    try:
        pid = os.posix_spawn(
            program,
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, stdin, 0),
                (os.POSIX_SPAWN_DUP2, out_write, 1),
                (os.POSIX_SPAWN_DUP2, err_write, 2),
            ],
        )
    except BaseException:
        os.close(out_read)
        os.close(err_read)
        raise
    finally:
        os.close(stdin)
        os.close(out_write)
        os.close(err_write)
    chunks: dict[int, list[bytes]] = {out_read: [], err_read: []}
    try:
        _read_until_closed(chunks, time.monotonic() + timeout)
    except TimeoutError:
        import signal  # here: only a hung git needs it

        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(out_read)
        os.close(err_read)
    _, status = os.waitpid(pid, 0)
    return (
        os.waitstatus_to_exitcode(status),
        b"".join(chunks[out_read]),
        b"".join(chunks[err_read]),
    )


def _read_until_closed(chunks: dict[int, list[bytes]], deadline: float) -> None:
    """Read each pipe in ``chunks`` into its list until every one is at its end."""
    poller = select.poll()
    for fd in chunks:
        poller.register(fd, select.POLLIN)
    open_fds = len(chunks)
    while open_fds:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        for fd, _ in poller.poll(left * 1000):
            data = os.read(fd, 65536)
            if data:
                chunks[fd].append(data)
            else:
                poller.unregister(fd)
                open_fds -= 1


def _text(data: bytes) -> str:
    """``data`` as :func:`subprocess.run` with ``text=True`` decodes it."""
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
