"""The ``command`` target: the user's own start, stop, status and artifact commands.

For systemd units (``systemctl start api@{slot}``), remote scripts and anything
else.  Exit status 0 means success; for ``status`` it means "running".  The start
command runs with the app's variables (``SHIPMATE_*``, ``PORT``, the app-version
variable) in its environment, so a wrapper script can pass them on.

Because a command cannot say which version it started, the target records it in
``<state_dir>/<product>/<slot>/release.json`` after a successful start and forgets
it on stop; ``running_version`` answers from there while ``status`` says running.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from shipmate.domain.deploy.model import CommandTargetConfig
from shipmate.engine.atomicfiles import write_file_atomic
from shipmate.engine.commands import CommandOutcome, run_command
from shipmate.engine.pathguard import render_argv_guarded, render_guarded
from shipmate.engine.release import Release
from shipmate.engine.targets.base import ConfiguredTarget, start_failed
from shipmate.errors import ArtifactMissingError, DeployError

__all__ = ["CommandTarget"]


class CommandTarget(ConfiguredTarget[CommandTargetConfig]):
    def release_file(self, slot: str) -> Path:
        return self.context.slot_dir(slot) / "release.json"

    def _run(
        self, template: Sequence[str], values: Mapping[str, str], env: Mapping[str, str]
    ) -> CommandOutcome:
        argv = render_argv_guarded(template, values, field="deploy.target")
        return run_command(argv, timeout=self.config.timeout, env=env)

    def check_artifact(self, release: Release) -> None:
        if self.config.artifact_check is None:
            return
        outcome = self._run(
            self.config.artifact_check, self.context.values(release=release), self.base_env
        )
        if not outcome.ok:
            raise ArtifactMissingError(
                f"{release.product} {release.full_version} is not available: {outcome.describe()}",
                field="deploy.target.artifact_check",
            )

    def start(self, release: Release, slot: str) -> None:
        if self.running_version(slot) == release.full_version:
            return
        values = self.context.values(slot=slot, release=release)
        env = dict(self.base_env)
        env.update(
            {
                k: render_guarded(v, values, field=f"deploy.target.env.{k}")
                for k, v in self.config.env.items()
            }
        )
        env.update(self.context.app_env(release, slot))
        outcome = self._run(self.config.start, values, env)
        if not outcome.ok:
            raise start_failed(release, slot, outcome.describe(), "start")
        record = {"full_version": release.full_version, "version": release.version}
        write_file_atomic(self.release_file(slot), json.dumps(record))

    def stop(self, slot: str) -> None:
        outcome = self._run(self.config.stop, self.context.values(slot=slot), self.base_env)
        if not outcome.ok and self.is_running(slot):
            raise DeployError(
                f"slot {slot} could not be stopped: {outcome.describe()}",
                field="deploy.target.stop",
                slot=slot,
            )
        with contextlib.suppress(FileNotFoundError):
            self.release_file(slot).unlink()

    def is_running(self, slot: str) -> bool:
        return self._run(self.config.status, self.context.values(slot=slot), self.base_env).ok

    def running_version(self, slot: str) -> str | None:
        try:
            data = json.loads(self.release_file(slot).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        if not isinstance(data, dict) or not self.is_running(slot):
            return None
        version = data.get("full_version")
        return version if isinstance(version, str) else None
