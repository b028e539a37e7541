"""The ``docker`` target: one container per slot, driven by command templates.

The container is named ``container_name`` (default ``<product>-<slot>``, made safe
for Docker) and labelled with the product, slot and full version, so
``running_version`` can read what a warm slot holds.  The app's variables
(``SHIPMATE_*``, ``PORT``, the app-version variable and ``env``) are passed as
``--env NAME`` arguments whose values come from the docker client's own
environment, so they do not show in ``ps``.

* artifact check: ``docker image inspect IMAGE``; when it fails and a
  ``pull_command`` is configured, pull and inspect again.
* start: ``docker rm --force NAME`` (a stopped container would block the name),
  then ``docker run --detach ...``.
* stop: ``docker stop --time T NAME`` then ``docker rm --force NAME``.
* running: ``docker inspect --format {{.State.Running}} NAME`` prints ``true``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from shipmate.domain.deploy.model import DockerTargetConfig
from shipmate.domain.deploy.templates import render, render_argv
from shipmate.engine.commands import CommandOutcome, run_command
from shipmate.engine.release import Release
from shipmate.engine.targets.base import ConfiguredTarget, start_failed
from shipmate.errors import ArtifactMissingError, DeployError

__all__ = ["DockerTarget"]

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


class DockerTarget(ConfiguredTarget[DockerTargetConfig]):
    def container_name(self, slot: str) -> str:
        name = render(self.config.container_name, self.context.values(slot=slot))
        return _UNSAFE_NAME.sub("-", name).lstrip("-_.") or "shipmate"

    def image(self, release: Release) -> str:
        return render(self.config.image, self.context.values(release=release))

    def _values(self, *, slot: str | None = None, release: Release | None = None) -> dict[str, str]:
        values = self.context.values(slot=slot, release=release)
        values["docker_bin"] = self.config.docker_bin
        values["stop_timeout"] = str(max(0, round(self.config.stop_timeout)))
        if slot is not None:
            values["name"] = self.container_name(slot)
        if release is not None:
            values["image"] = self.image(release)
        return values

    def _run(
        self,
        template: Sequence[str],
        values: Mapping[str, str],
        *,
        env: Mapping[str, str] | None = None,
        lists: Mapping[str, Sequence[str]] | None = None,
    ) -> CommandOutcome:
        argv = render_argv(template, values, lists)
        return run_command(
            argv, timeout=self.config.command_timeout, env=env if env else self.base_env
        )

    def check_artifact(self, release: Release) -> None:
        values = self._values(release=release)
        outcome = self._run(self.config.inspect_command, values)
        if outcome.ok:
            return
        if self.config.pull_command is not None:
            pulled = self._run(self.config.pull_command, values)
            if pulled.ok and self._run(self.config.inspect_command, values).ok:
                return
            outcome = pulled if not pulled.ok else outcome
        raise ArtifactMissingError(
            f"image {values['image']} is not available: {outcome.output or outcome.describe()}",
            field="deploy.target.image",
            image=values["image"],
        )

    def start(self, release: Release, slot: str) -> None:
        if self.is_running(slot) and self.running_version(slot) == release.full_version:
            return
        values = self._values(slot=slot, release=release)
        self._run(self.config.rm_command, values)
        app_env = {k: render(v, values) for k, v in self.config.env.items()}
        app_env.update(self.context.app_env(release, slot))
        env_args: list[str] = []
        for name in app_env:
            env_args += ["--env", name]
        outcome = self._run(
            self.config.run_command,
            values,
            env={**self.base_env, **app_env},
            lists={
                "env_args": env_args,
                "run_args": render_argv(self.config.run_args, values),
                "args": render_argv(self.config.args, values),
            },
        )
        if not outcome.ok:
            raise start_failed(release, slot, outcome.describe(), "run_command")

    def stop(self, slot: str) -> None:
        values = self._values(slot=slot)
        stopped = self._run(self.config.stop_command, values)
        removed = self._run(self.config.rm_command, values)
        if (not stopped.ok or not removed.ok) and self.is_running(slot):
            failed = stopped if not stopped.ok else removed
            raise DeployError(
                f"container {values['name']} of slot {slot} could not be stopped: "
                f"{failed.describe()}",
                field="deploy.target.stop_command",
                slot=slot,
            )

    def is_running(self, slot: str) -> bool:
        outcome = self._run(self.config.status_command, self._values(slot=slot))
        return outcome.ok and outcome.stdout.strip().lower() == "true"

    def running_version(self, slot: str) -> str | None:
        outcome = self._run(self.config.version_command, self._values(slot=slot))
        version = outcome.stdout.strip()
        if not outcome.ok or not version or version == "<no value>":
            return None
        return version
