"""The fixed value lists the parsers check flags against, as plain tuples.

The parsers may import only light modules (``shipmate --help`` must start fast), so
these copy the lists the domain and the services define; tests/cli/test_parsing.py
checks that each equals its source.
"""

from __future__ import annotations

__all__ = [
    "DELIVERY_STATUSES",
    "DEPLOYMENT_KINDS",
    "ENVIRONMENT_KINDS",
    "KEY_SCOPES",
    "PHASES",
    "RULE_KINDS",
    "RULE_MODES",
    "RUN_STATUSES",
    "SHELLS",
    "STATUSES",
    "STATUS_ALIASES",
    "VERSION_STATES",
]

#: shipmate.domain.lifecycle.Status
STATUSES = ("pending", "started", "completed", "failed", "aborted", "rolled_back")
#: The other keys of shipmate.domain.lifecycle.STATUS_ALIASES.
STATUS_ALIASES = (
    "queued",
    "scheduled",
    "in_progress",
    "in-progress",
    "init",
    "building",
    "deploying",
    "running",
    "success",
    "succeeded",
    "complete",
    "finished",
    "built",
    "deployed",
    "fail",
    "failure",
    "error",
    "abort",
    "cancelled",
    "canceled",
    "cancel",
    "skipped",
    "rollback",
    "rolled-back",
    "rolledback",
)
#: shipmate.domain.lifecycle.DeploymentKind
DEPLOYMENT_KINDS = ("deploy", "rollback", "rollforward")
#: shipmate.domain.environments.EnvironmentKind
ENVIRONMENT_KINDS = ("dev", "test", "staging", "production")
#: shipmate.services.auth.keys.Scope
KEY_SCOPES = ("read", "write", "admin", "agent")
#: shipmate.domain.gates.rules.RuleKind
RULE_KINDS = ("concurrency", "freeze", "flow", "approval")
#: shipmate.domain.gates.rules.RuleMode
RULE_MODES = ("enabled", "report_only", "disabled")
#: shipmate.domain.releases.planning.Phase
PHASES = ("up", "down")
#: What shipmate.services.runs.journal lists runs by: running, interrupted, finished.
RUN_STATUSES = (
    "running",
    "interrupted",
    "completed",
    "completed_draining",
    "failed",
    "superseded",
    "aborted",
)
#: shipmate.services.notify.delivery_log.DELIVERY_STATUSES
DELIVERY_STATUSES = ("pending", "sending", "delivered", "failed", "expired")
#: shipmate.store.schema_version_states.VERSION_STATES
VERSION_STATES = ("active", "draining", "drained", "retired")
#: The shells ``shipmate completion`` writes a script for.
SHELLS = ("bash", "zsh", "fish")
