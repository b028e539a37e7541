"""Running ``git`` the one way shipmate does: it can never prompt, hang or lock.

Git runs with ``LC_ALL=C`` (its messages are read), no terminal prompts, stdin
closed, no optional locks and a timeout.  Every failure is an outcome with one
line saying why (git's own first line, without ``fatal:``), never an exception.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GitOutcome", "run_git"]


@dataclass(frozen=True)
class GitOutcome:
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
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        if exc.filename == "git":
            return GitOutcome(False, "", "git is not installed", git_missing=True)
        return GitOutcome(False, "", f"{exc.filename} does not exist")
    except subprocess.TimeoutExpired:
        return GitOutcome(False, "", f"git timed out after {timeout:g}s")
    except OSError as exc:
        return GitOutcome(False, "", f"git could not run: {exc.strerror or exc}")
    if proc.returncode != 0:
        lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
        problem = lines[0].removeprefix("fatal: ") if lines else f"git exited {proc.returncode}"
        return GitOutcome(False, proc.stdout, problem)
    return GitOutcome(True, proc.stdout, None)
