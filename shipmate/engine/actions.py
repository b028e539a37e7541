"""Running one release action: a shell command or script, or a SQL script.

:class:`LocalActionRunner` is the real :class:`ActionRunner`.  It never raises for a
failing action: every outcome (exit status, database error, timeout, a database
reference that is not set) comes back as an
:class:`~shipmate.engine.action_outcome.ActionOutcome`, so the caller records it and
stops the walk.  Shell actions run as local processes
(:mod:`shipmate.engine.shell_actions`), SQL actions in one transaction on the
database their reference names (:mod:`shipmate.engine.sql_actions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from shipmate.domain.releases.planning import ActionKind, ReleaseAction
from shipmate.engine.action_outcome import ActionOutcome
from shipmate.engine.shell_actions import run_shell
from shipmate.engine.sql_actions import run_sql

__all__ = ["ActionRunner", "LocalActionRunner"]


class ActionRunner(Protocol):
    """Runs one action; returns its outcome, never raises for the action's own failure."""

    def run(
        self,
        action: ReleaseAction,
        *,
        env: Mapping[str, str],
        timeout: float,
        cwd: str | None = None,
    ) -> ActionOutcome: ...


class LocalActionRunner:
    """Shell actions as local processes, SQL actions on their database (see module doc)."""

    def run(
        self,
        action: ReleaseAction,
        *,
        env: Mapping[str, str],
        timeout: float,
        cwd: str | None = None,
    ) -> ActionOutcome:
        if action.kind is ActionKind.SHELL:
            return run_shell(action.body, env=env, timeout=timeout, cwd=cwd)
        assert action.database_ref is not None  # ReleaseAction guarantees it for SQL
        return run_sql(action.body, database_ref=action.database_ref, env=env, timeout=timeout)
