"""``record`` and ``version next`` at home in GitHub Actions and GitLab CI.

- ``$GITHUB_OUTPUT`` (whenever it is set): ``version next`` writes ``version``,
  ``build_number`` and ``full_version``; ``record`` writes ``deployment_id``,
  ``full_version`` and ``status``.
- ``$GITHUB_STEP_SUMMARY`` (with ``GITHUB_ACTIONS=true``): a Markdown table of what
  was built or recorded, linking the deployment's dashboard page when a server URL
  is known (``[notifications] base_url``, ``[server] public_url`` or ``SHIPMATE_URL``).
- A failure of any command prints an ``::error title=shipmate::`` annotation on
  stdout (with ``GITHUB_ACTIONS=true``).
- GitLab: a job's ``CI_ENVIRONMENT_NAME`` is ``record``'s ``--env`` when none is given.

The escaping is :mod:`shipmate.domain.ci_output`'s.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from shipmate.config import Settings
from shipmate.domain.ci import default_environment

if TYPE_CHECKING:
    from shipmate.domain.records import BuildRecord, DeploymentRecord
from shipmate.errors import ConfigError, InvalidInputError

__all__ = [
    "annotate_error",
    "environment_of",
    "in_github_actions",
    "report_build",
    "report_deployment",
]


def in_github_actions(env: Mapping[str, str]) -> bool:
    return env.get("GITHUB_ACTIONS") == "true"


def environment_of(flag: str | None, env: Mapping[str, str] | None = None) -> str:
    """``--env``, else GitLab's ``CI_ENVIRONMENT_NAME``; refused when neither says."""
    environment = flag or default_environment(os.environ if env is None else env)
    if not environment:
        raise InvalidInputError(
            "--env is required (in a GitLab CI job with an environment: it defaults to "
            "CI_ENVIRONMENT_NAME)",
            field="env",
        )
    return environment


def report_build(build: BuildRecord, env: Mapping[str, str] | None = None) -> None:
    """Step outputs and the job summary of a ``version next``."""
    outputs = {
        "version": build.version,
        "build_number": str(build.build_number),
        "full_version": build.full_version,
    }
    rows = [
        ("Product", build.product),
        ("Version", build.full_version),
        ("Commit", build.commit_sha),
        ("Branch", build.branch),
    ]
    _report(
        os.environ if env is None else env,
        outputs,
        f"{build.product} {build.full_version} built",
        rows,
    )


def report_deployment(
    dep: DeploymentRecord, settings: Settings, env: Mapping[str, str] | None = None
) -> None:
    """Step outputs and the job summary of a ``record``, linking the deployment's page."""
    outputs = {"deployment_id": str(dep.id), "full_version": dep.full_version, "status": dep.status}
    rows = [
        ("Product", dep.product),
        ("Version", dep.full_version),
        ("Environment", dep.environment),
        ("Status", dep.status),
        ("Commit", dep.commit_sha),
    ]

    def link() -> tuple[str, str, str | None]:
        base = _server_url(settings, os.environ if env is None else env)
        return "Deployment", f"#{dep.id}", base and f"{base}/deployments/{dep.id}"

    title = f"{dep.product} {dep.full_version} in {dep.environment}: {dep.status}"
    _report(os.environ if env is None else env, outputs, title, rows, link)


def _report(
    env: Mapping[str, str],
    outputs: Mapping[str, str],
    title: str,
    rows: list[tuple[str, str | None]],
    link: Callable[[], tuple[str, str, str | None]] | None = None,
) -> None:
    _write_outputs(env, outputs)
    path = _summary_path(env)
    if path is None:
        return
    from shipmate.domain.ci_output import summary_table  # here: only GitHub Actions uses it

    markdown = summary_table(f"shipmate: {title}", rows, link and link())
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(markdown)
    except OSError as exc:
        print(
            f"shipmate: warning: cannot append the job summary to $GITHUB_STEP_SUMMARY "
            f"({path}): {exc.strerror}",
            file=sys.stderr,
        )


def annotate_error(message: str, env: Mapping[str, str] | None = None) -> None:
    """The error as a GitHub annotation, when running there."""
    if in_github_actions(os.environ if env is None else env):
        from shipmate.domain.ci_output import error_command

        print(error_command(message), flush=True)


def _server_url(settings: Settings, env: Mapping[str, str]) -> str | None:
    """The dashboard's address: ``[notifications] base_url``, else ``[server]
    public_url``, else the remote-mode ``url``; a setting that does not parse is
    left out (the summary is no place to fail a deploy)."""
    from shipmate.api.settings import ServerSettings
    from shipmate.domain.notify.config import parse_notify_config

    try:
        public = ServerSettings.from_table(settings.sections.get("server", {})).public_url
    except ConfigError:
        public = None
    try:
        config = parse_notify_config(
            settings.sections.get("notifications"), env=env, default_base_url=public or settings.url
        )
    except ConfigError:
        return public or settings.url
    return config.base_url


def _write_outputs(env: Mapping[str, str], values: Mapping[str, str]) -> None:
    path = env.get("GITHUB_OUTPUT")
    if not path:
        return
    import secrets  # here: only a run with step outputs pays for it

    from shipmate.domain.ci_output import output_entry

    delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    text = "".join(output_entry(name, value, delimiter) for name, value in values.items())
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise ConfigError(
            f"cannot append the step outputs to $GITHUB_OUTPUT ({path}): {exc.strerror}",
            field="GITHUB_OUTPUT",
        ) from None


def _summary_path(env: Mapping[str, str]) -> str | None:
    path = env.get("GITHUB_STEP_SUMMARY")
    return path if path and in_github_actions(env) else None
