"""The deployment status lifecycle and the aliases real clients send.

::

    pending ──► started ──► completed ──► rolled_back
       │           │
       │           ├──► failed
       │           └──► aborted
       └──► completed | failed | aborted

A new deployment may start in any status but ``rolled_back``.  Repeating the
status a deployment already has is not a transition; the caller decides whether
that is an idempotent retry.
"""

from __future__ import annotations

from enum import StrEnum

from shipmate.domain.inputs.choices import parse_choice
from shipmate.errors import IllegalTransitionError, InvalidInputError

__all__ = [
    "FINISHED",
    "OPEN",
    "STATUS_ALIASES",
    "DeploymentKind",
    "Status",
    "check_transition",
    "parse_kind",
    "parse_status",
]


class Status(StrEnum):
    PENDING = "pending"
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"
    ABORTED = "aborted"
    ROLLED_BACK = "rolled_back"


class DeploymentKind(StrEnum):
    DEPLOY = "deploy"
    ROLLBACK = "rollback"
    ROLLFORWARD = "rollforward"


OPEN = frozenset({Status.PENDING, Status.STARTED})
FINISHED = frozenset({Status.COMPLETED, Status.FAILED, Status.ABORTED, Status.ROLLED_BACK})

#: Every spelling accepted on input, lower-cased, mapped to its canonical status.
#: Versioner's aliases (reference/versioner-api.md) and bloqr's success|failed|rollback.
STATUS_ALIASES: dict[str, Status] = {
    **{s.value: s for s in Status},
    "queued": Status.PENDING,
    "scheduled": Status.PENDING,
    "in_progress": Status.STARTED,
    "in-progress": Status.STARTED,
    "init": Status.STARTED,
    "building": Status.STARTED,
    "deploying": Status.STARTED,
    "running": Status.STARTED,
    "success": Status.COMPLETED,
    "succeeded": Status.COMPLETED,
    "complete": Status.COMPLETED,
    "finished": Status.COMPLETED,
    "built": Status.COMPLETED,
    "deployed": Status.COMPLETED,
    "fail": Status.FAILED,
    "failure": Status.FAILED,
    "error": Status.FAILED,
    "abort": Status.ABORTED,
    "cancelled": Status.ABORTED,
    "canceled": Status.ABORTED,
    "cancel": Status.ABORTED,
    "skipped": Status.ABORTED,
    "rollback": Status.ROLLED_BACK,
    "rolled-back": Status.ROLLED_BACK,
    "rolledback": Status.ROLLED_BACK,
}

_ALLOWED: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.STARTED, Status.COMPLETED, Status.FAILED, Status.ABORTED}),
    Status.STARTED: frozenset({Status.COMPLETED, Status.FAILED, Status.ABORTED}),
    Status.COMPLETED: frozenset({Status.ROLLED_BACK}),
    Status.FAILED: frozenset(),
    Status.ABORTED: frozenset(),
    Status.ROLLED_BACK: frozenset(),
}


def parse_status(value: object, *, field: str = "status") -> Status:
    """Map any accepted spelling (any case) to the canonical status."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{field} must be a non-empty string", field=field)
    status = STATUS_ALIASES.get(value.strip().lower())
    if status is None:
        accepted = ", ".join(s.value for s in Status)
        raise InvalidInputError(
            f"{field} {value!r} is not a known status; use one of {accepted} "
            "(or an alias such as success, in_progress, cancelled)",
            field=field,
        )
    return status


def parse_kind(value: object, *, field: str = "kind") -> DeploymentKind:
    return parse_choice(DeploymentKind, value, field=field, what="a deployment kind")


def check_transition(current: Status, new: Status, *, deployment_id: object = None) -> None:
    """Raise IllegalTransitionError unless ``current → new`` is allowed."""
    if new in _ALLOWED[current]:
        return
    what = f"deployment {deployment_id}" if deployment_id is not None else "the deployment"
    allowed = sorted(s.value for s in _ALLOWED[current])
    hint = (
        f"; from {current.value} it can go to {', '.join(allowed)}"
        if allowed
        else (f"; {current.value} is final")
    )
    raise IllegalTransitionError(
        f"{what} is {current.value} and cannot become {new.value}{hint}",
        field="status",
        current=current.value,
        requested=new.value,
    )
