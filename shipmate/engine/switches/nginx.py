"""The ``nginx`` switch: rewrite an upstream include, test it, reload nginx.

Steps of ``switch_to``:

1. render the template for the new slot, with a first line
   ``# shipmate: {"slot": ..., "full_version": ...}`` so ``current()`` can tell
   which slot the file points at;
2. write it to a temporary file in the same folder, fsync, ``os.replace`` it over
   the upstream file (readers never see a half-written file);
3. run the test command (``nginx -t``, with ``-c <nginx_conf>`` when configured);
4. reload nginx (``nginx -s reload``): old workers finish their requests, new ones
   use the new upstream, so no request fails.

If the test or the reload fails, the previous file is put back (atomically, or
removed if there was none) and SwitchError carries nginx's own message; nginx keeps
serving the previous upstream because it never loaded the new one.

Before reloading, the switch notes the master's current workers
(:mod:`shipmate.engine.switches.nginxworkers`); :meth:`NginxSwitch.wait_settled` waits until
they, and any worker nginx marks "shutting down", have exited: from then on no
request goes to the slot traffic left.  When the master cannot be found (its pid
file is elsewhere or not readable) it waits :data:`FALLBACK_SETTLE_SECONDS` instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from shipmate.domain.deploy.model import NginxSwitchConfig
from shipmate.domain.deploy.templates import render, render_argv
from shipmate.engine.atomicfiles import fsync_dir, write_file_atomic
from shipmate.engine.commands import CommandOutcome, run_command
from shipmate.engine.killpoints import kill_point
from shipmate.engine.release import DeployContext, Release
from shipmate.engine.switches import nginxworkers
from shipmate.engine.switches.base import Switch, SwitchResult, SwitchState
from shipmate.errors import SwitchError

__all__ = ["FALLBACK_SETTLE_SECONDS", "NginxSwitch", "nginx_message"]

#: How long to wait for nginx's previous workers when its master cannot be found.
FALLBACK_SETTLE_SECONDS = 2.0
_SETTLE_POLL = 0.05

MARKER = "# shipmate: "
# "2026/11/22 03:20:23 [emerg] 21273#21273: unknown directive ..." -> level and text
_LOG_LINE = re.compile(r"^(?:\d{4}/\d\d/\d\d \d\d:\d\d:\d\d )?\[(\w+)\] (?:\d+#\d+: )?(.*)$")
_SERIOUS = ("emerg", "alert", "crit", "error")


def nginx_message(outcome: CommandOutcome) -> str:
    """nginx's own complaint on one line (``[emerg]`` lines without their timestamps).

    Falls back to the command's whole output when nginx printed no such line.
    """
    found: list[str] = []
    for line in outcome.output.splitlines():
        match = _LOG_LINE.match(line.strip())
        if match and match.group(1) in _SERIOUS:
            found.append(match.group(2).strip())
    if found:
        return "nginx: " + "; ".join(found)
    return " ".join(outcome.describe().split())


class NginxSwitch(Switch):
    def __init__(self, config: NginxSwitchConfig, context: DeployContext) -> None:
        self.config = config
        self.context = context
        static = context.values()
        self.upstream_file = Path(render(config.upstream_file, static))
        tools = {
            **static,
            "nginx_bin": config.nginx_bin,
            "upstream_file": str(self.upstream_file),
            "nginx_conf": config.nginx_conf or "",
        }
        self.test_argv = render_argv(config.test_command, tools)
        self.reload_argv = render_argv(config.reload_command, tools)
        self._pid_file: Path | None = None
        #: Workers of the configuration before our last reload, per master.
        self._previous: tuple[int, frozenset[tuple[int, int]]] | None = None

    def render_upstream(self, release: Release, slot: str) -> tuple[SwitchState, str]:
        """The state and the file text that send traffic to ``release`` in ``slot``."""
        values = self.context.values(slot=slot, release=release)
        values["upstream_name"] = self.config.upstream_name
        state = SwitchState(
            slot=slot,
            port=self.context.port(slot),
            version=release.version,
            full_version=release.full_version,
        )
        marker = {k: v for k, v in state.to_dict().items() if k != "content"}
        text = MARKER + json.dumps(marker) + "\n" + render(self.config.template, values)
        if not text.endswith("\n"):
            text += "\n"
        return SwitchState(**{**marker, "content": text}), text

    def current(self) -> SwitchState | None:
        text = self._read()
        if text is None:
            return None
        first = text.split("\n", 1)[0]
        if first.startswith(MARKER):
            try:
                parsed = SwitchState.from_dict(json.loads(first[len(MARKER) :]))
            except ValueError:
                parsed = None
            if parsed is not None:
                return replace(parsed, content=text)
        return SwitchState(content=text)

    def switch_to(self, release: Release, slot: str, port: int | None = None) -> SwitchResult:
        if port is not None and port != self.context.port(slot):
            raise SwitchError(
                f"slot {slot} listens on port {self.context.port(slot)}, not {port}",
                field="slot",
            )
        previous = self.current()
        state, text = self.render_upstream(release, slot)
        detail = self._apply(text, previous.content if previous else None, state.describe())
        return SwitchResult(previous=previous, current=state, detail=detail)

    def restore(self, previous: SwitchState) -> SwitchResult:
        if previous.content is None:
            raise SwitchError(
                "there is no previous nginx upstream to restore", field="deploy.switch"
            )
        now = self.current()
        detail = self._apply(previous.content, now.content if now else None, previous.describe())
        return SwitchResult(previous=now, current=self.current() or previous, detail=detail)

    # -- steps ---------------------------------------------------------------------------

    def _read(self) -> str | None:
        try:
            return self.upstream_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SwitchError(
                f"{self.upstream_file} cannot be read: {exc.strerror}",
                field="deploy.switch.upstream_file",
            ) from None

    def _apply(self, text: str, previous_text: str | None, what: str) -> str:
        mode = 0o644
        with contextlib.suppress(FileNotFoundError):
            mode = self.upstream_file.stat().st_mode & 0o777
        try:
            write_file_atomic(self.upstream_file, text, mode=mode)
        except OSError as exc:
            raise SwitchError(
                f"{self.upstream_file} cannot be written: {exc.strerror}",
                field="deploy.switch.upstream_file",
            ) from None
        kill_point("nginx.written")
        test = self._run(self.test_argv)
        if not test.ok:
            raise self._put_back_refused(
                previous_text,
                f"nginx rejected the upstream for {what}; the previous file is back in place "
                f"and traffic is unchanged: {nginx_message(test)}",
                field="deploy.switch.template",
                outcome=test,
            )
        kill_point("nginx.tested")
        self._note_workers()
        reload = self._run(self.reload_argv)
        if not reload.ok:
            self._previous = None
            raise self._put_back_refused(
                previous_text,
                f"nginx could not be reloaded for {what}; the previous file is back in place: "
                f"{nginx_message(reload)}",
                field="deploy.switch.reload_command",
                outcome=reload,
            )
        return test.output

    # -- settling ------------------------------------------------------------------------

    def master_pid(self) -> int | None:
        """The running nginx master's pid, if its pid file can be found and read."""
        if self._pid_file is None:
            self._pid_file = nginxworkers.pid_file_of(self.config.nginx_bin, self.config.nginx_conf)
        return nginxworkers.find_master(self._pid_file)

    def _note_workers(self) -> None:
        master = self.master_pid()
        if master is not None:
            before = frozenset(w.identity for w in nginxworkers.workers(master))
            self._previous = (master, before)

    def wait_settled(
        self, *, timeout: float = 30.0, sleep: Callable[[float], None] = time.sleep
    ) -> str:
        master = self.master_pid()
        if master is None:
            sleep(FALLBACK_SETTLE_SECONDS)
            return (
                f"nginx's master process was not found (pid file {self._pid_file}); waited "
                f"{FALLBACK_SETTLE_SECONDS:g}s for its previous workers instead"
            )
        before = self._previous[1] if self._previous and self._previous[0] == master else set()
        started = time.monotonic()
        waited: set[int] = set()
        while True:
            old = [
                w for w in nginxworkers.workers(master) if w.shutting_down or w.identity in before
            ]
            if not old:
                self._previous = None
                if not waited:
                    return ""
                return (
                    f"nginx's previous workers have exited ({len(waited)} waited for, "
                    f"{time.monotonic() - started:.1f}s)"
                )
            waited.update(w.pid for w in old)
            if time.monotonic() - started >= timeout:
                pids = ", ".join(str(w.pid) for w in old)
                return f"nginx's previous workers ({pids}) were still running after {timeout:g}s"
            sleep(_SETTLE_POLL)

    def _put_back(self, previous_text: str | None) -> None:
        if previous_text is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.upstream_file)
            fsync_dir(self.upstream_file.parent)
        else:
            write_file_atomic(self.upstream_file, previous_text)

    def _put_back_refused(
        self, previous_text: str | None, message: str, *, field: str, outcome: CommandOutcome
    ) -> SwitchError:
        """Put the previous file back; the error for the nginx command that refused the new one."""
        self._put_back(previous_text)
        return SwitchError(
            message,
            field=field,
            stderr=outcome.output,
            command=list(outcome.argv),
            upstream_file=str(self.upstream_file),
        )

    def _run(self, argv: list[str]) -> CommandOutcome:
        return run_command(argv, timeout=self.config.command_timeout)
