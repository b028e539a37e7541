"""Traffic switches: move traffic to a slot, atomically, and back.

The interface is :class:`Switch` (promises in :mod:`shipmate.engine.switches.base`);
implementations are :class:`NginxSwitch` (:mod:`shipmate.engine.switches.nginx`),
:class:`SymlinkSwitch` and :class:`CommandSwitch` here; :func:`build_switch` picks
one from a validated ``[deploy]`` configuration.

* ``symlink``: ``current → <releases_dir>/<version>`` is replaced by creating
  ``current.tmp-<random>`` and renaming it over ``current``; the link is never
  missing, not even for a moment.  The target folder must exist.
* ``command``: the user's command, run with the new slot's values; ``restore`` runs
  it with the previous slot's values.

Both remember the state they set in ``<state_dir>/<product>/switch.json``, since
neither a symlink nor a command can say which slot it means.
"""

from __future__ import annotations

import os
from pathlib import Path

from shipmate.domain.deploy.model import (
    CommandSwitchConfig,
    DeployConfig,
    NginxSwitchConfig,
    SymlinkSwitchConfig,
)
from shipmate.domain.deploy.templates import render, render_argv
from shipmate.engine.atomicfiles import replace_symlink
from shipmate.engine.commands import run_command
from shipmate.engine.pathguard import render_guarded
from shipmate.engine.release import DeployContext, Release
from shipmate.engine.switches.base import (
    Switch,
    SwitchResult,
    SwitchState,
    read_state_file,
    write_state_file,
)
from shipmate.engine.switches.nginx import NginxSwitch
from shipmate.errors import SwitchError

__all__ = [
    "CommandSwitch",
    "NginxSwitch",
    "Switch",
    "SwitchResult",
    "SwitchState",
    "SymlinkSwitch",
    "build_switch",
]


def _state_for(context: DeployContext, release: Release, slot: str) -> SwitchState:
    return SwitchState(
        slot=slot,
        port=context.port(slot),
        version=release.version,
        full_version=release.full_version,
    )


class SymlinkSwitch(Switch):
    def __init__(self, config: SymlinkSwitchConfig, context: DeployContext) -> None:
        self.config = config
        self.context = context
        static = context.values()
        self.link = Path(render(config.link, static))
        self.releases_dir = render(config.releases_dir, static)
        self.state_file = context.product_dir / "switch.json"

    def target_for(self, release: Release, slot: str) -> str:
        values = self.context.values(slot=slot, release=release)
        values["releases_dir"] = self.releases_dir
        return render_guarded(
            self.config.target_template, values, field="deploy.switch.target_template"
        )

    def current(self) -> SwitchState | None:
        try:
            target = os.readlink(self.link)
        except FileNotFoundError:
            return None
        except OSError:
            raise SwitchError(
                f"{self.link} exists but is not a symlink; move it away once so shipmate "
                "can manage it",
                field="deploy.switch.link",
            ) from None
        recorded = read_state_file(self.state_file)
        if recorded is not None and recorded.content == target:
            return recorded
        return SwitchState(content=target)

    def switch_to(self, release: Release, slot: str, port: int | None = None) -> SwitchResult:
        target = self.target_for(release, slot)
        if not os.path.exists(target):
            raise SwitchError(
                f"{release.product} {release.full_version}: {target} does not exist, so "
                f"{self.link} cannot point at it",
                field="deploy.switch.target_template",
                path=target,
            )
        state = _state_for(self.context, release, slot)
        state = SwitchState(**{**state.to_dict(), "content": target})
        return self._point(state)

    def restore(self, previous: SwitchState) -> SwitchResult:
        if previous.content is None:
            raise SwitchError("there is no previous link target to restore", field="deploy.switch")
        return self._point(previous)

    def _point(self, state: SwitchState) -> SwitchResult:
        previous = self.current()
        if state.content is None:
            raise SwitchError("a symlink switch state needs a target", field="deploy.switch")
        try:
            self.link.parent.mkdir(parents=True, exist_ok=True)
            replace_symlink(self.link, state.content)
        except OSError as exc:
            raise SwitchError(
                f"{self.link} could not be pointed at {state.content}: {exc.strerror}",
                field="deploy.switch.link",
            ) from None
        write_state_file(self.state_file, state)
        return SwitchResult(previous, state, f"{self.link} -> {state.content}")


class CommandSwitch(Switch):
    def __init__(self, config: CommandSwitchConfig, context: DeployContext) -> None:
        self.config = config
        self.context = context
        self.state_file = context.product_dir / "switch.json"

    def current(self) -> SwitchState | None:
        return read_state_file(self.state_file)

    def switch_to(self, release: Release, slot: str, port: int | None = None) -> SwitchResult:
        previous = self.current()
        state = _state_for(self.context, release, slot)
        detail = self._run(release, slot)
        write_state_file(self.state_file, state)
        return SwitchResult(previous, state, detail)

    def restore(self, previous: SwitchState) -> SwitchResult:
        if previous.slot is None or previous.version is None:
            raise SwitchError(
                "the previous switch state names no slot and version to go back to",
                field="deploy.switch",
            )
        release = Release(
            self.context.product,
            previous.version,
            previous.full_version or previous.version,
        )
        return self.switch_to(release, previous.slot)

    def _run(self, release: Release, slot: str) -> str:
        values = self.context.values(slot=slot, release=release)
        outcome = run_command(render_argv(self.config.command, values), timeout=self.config.timeout)
        if not outcome.ok:
            raise SwitchError(
                f"the switch command for {release.full_version} in slot {slot} failed: "
                f"{outcome.describe()}",
                field="deploy.switch.command",
                stderr=outcome.output,
            )
        return outcome.output


def build_switch(config: DeployConfig, *, product: str, state_dir: str) -> Switch:
    """The switch ``config.switch`` describes, for ``product``."""
    context = DeployContext.from_config(config, product=product, state_dir=state_dir)
    switch = config.switch
    if isinstance(switch, NginxSwitchConfig):
        return NginxSwitch(switch, context)
    if isinstance(switch, SymlinkSwitchConfig):
        return SymlinkSwitch(switch, context)
    if isinstance(switch, CommandSwitchConfig):
        return CommandSwitch(switch, context)
    raise TypeError(f"unknown switch configuration {type(switch).__name__}")
