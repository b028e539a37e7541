"""Live progress of a run on the command line.

* On a terminal (and not in CI): a step list.  The current step's line is
  rewritten in place as it progresses (health-check attempts, keep-warm time
  left), then ends with ✓ or ✗ and its duration.
* Otherwise (a pipe, a CI log): plain lines, one when a step starts and one when
  it ends, and at most one progress line every :data:`PLAIN_PROGRESS_EVERY` seconds.

A failed step's output (nginx's message, the app's last log lines) is printed
indented under it either way.  Every value a run carries (versions, step titles,
errors, output lines) is shown through :func:`printable`, so an escape sequence
in it never reaches the terminal.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, TextIO

from shipmate.cli import render
from shipmate.domain.printable import printable as p
from shipmate.domain.runs.plan import FlowEnd, Step, StepResult
from shipmate.services.runs.observer import RunObserver

if TYPE_CHECKING:
    from shipmate.services.runs.journal import RunRecord

__all__ = ["PlainProgress", "TerminalProgress", "make_progress"]

PLAIN_PROGRESS_EVERY = 5.0
_MAX_OUTPUT_LINES = 15


def _indent(text: str, limit: int = _MAX_OUTPUT_LINES) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > limit:
        lines = ["…", *lines[-limit:]]
    return "\n".join(f"      {p(line)}" for line in lines)


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f}s"


def _heading(run: RunRecord, resumed: bool) -> str:
    verb = "Resuming" if resumed else ("Rolling back" if run.kind == "rollback" else "Deploying")
    version = p(run.full_version)
    target = f"to {version}" if run.kind == "rollback" else version
    return f"{verb} {p(run.product)} {target} in {p(run.environment)} (run {run.id})"


class TerminalProgress(RunObserver):
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.line = ""

    def _write(self, text: str, *, end: str = "") -> None:
        self.out.write("\r\033[K" + text + end)
        self.out.flush()

    def run_started(self, run: RunRecord, *, resumed: bool) -> None:
        self.out.write(render.colour(_heading(run, resumed), "1") + "\n")

    def step_started(self, seq: int, step: Step, attempt: int) -> None:
        again = f" (attempt {attempt})" if attempt > 1 else ""
        self.line = f"  … {p(step.title)}{again}"
        self._write(self.line)

    def step_progress(self, seq: int, step: Step, message: str) -> None:
        self._write(f"{self.line}  {render.colour(p(message[:80]), '2')}")

    def step_finished(
        self, seq: int, step: Step, result: StepResult, seconds: float, *, replayed: bool
    ) -> None:
        if replayed:
            mark = render.colour("↺", "2")
            self._write(f"  {mark} {p(step.title)} {render.colour('(done before)', '2')}", end="\n")
            return
        if result.ok:
            mark = render.colour("✓", "32")
            shown = render.colour(_seconds(seconds), "2")
            self._write(f"  {mark} {p(step.title)} {shown}", end="\n")
            return
        mark = render.colour("✗", "31")
        self._write(f"  {mark} {p(step.title)}: {p(result.error)}", end="\n")
        if result.output.strip():
            self.out.write(_indent(result.output) + "\n")
        self.out.flush()

    def run_finished(self, run: RunRecord, end: FlowEnd | None) -> None:
        self.out.flush()


class PlainProgress(RunObserver):
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.last_progress = 0.0

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def run_started(self, run: RunRecord, *, resumed: bool) -> None:
        self._print(_heading(run, resumed))

    def step_started(self, seq: int, step: Step, attempt: int) -> None:
        again = f" (attempt {attempt})" if attempt > 1 else ""
        self.last_progress = time.monotonic()
        self._print(f"[{seq}] {p(step.title)}{again} ...")

    def step_progress(self, seq: int, step: Step, message: str) -> None:
        now = time.monotonic()
        if now - self.last_progress >= PLAIN_PROGRESS_EVERY:
            self.last_progress = now
            self._print(f"[{seq}]   {p(message)}")

    def step_finished(
        self, seq: int, step: Step, result: StepResult, seconds: float, *, replayed: bool
    ) -> None:
        if replayed:
            self._print(f"[{seq}] {p(step.title)}: done before, not repeated")
        elif result.ok:
            self._print(f"[{seq}] {p(step.title)}: ok ({_seconds(seconds)})")
        else:
            self._print(f"[{seq}] {p(step.title)}: FAILED: {p(result.error)}")
            if result.output.strip():
                self._print(_indent(result.output))


def make_progress(out: TextIO | None = None) -> RunObserver:
    """The step list on an interactive terminal, plain lines anywhere else."""
    stream = out or sys.stdout
    interactive = (
        stream.isatty()
        and os.environ.get("CI", "").lower() not in ("1", "true", "yes")
        and os.environ.get("TERM") != "dumb"
    )
    return TerminalProgress(stream) if interactive else PlainProgress(stream)
