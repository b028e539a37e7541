"""When an event repeats what is already recorded: the rules, on literals.

Clients retry.  The Versioner CLI retries network errors and 5xx four times and
sends no idempotency key; shipmate's own CLI retries too.  When the first attempt
was committed and only its response was lost, the retry must not record a second
deployment or build, nor mark a second deployment rolled back.

- :func:`is_repeated_finish`: a ``completed``, ``failed`` or ``aborted`` event
  that finds nothing open to advance repeats the newest record of its identity
  when it names the same version (and build, when it gives one), the same CI
  run, the same status (and, for a deployment, kind), no other commit and no
  other time, and arrives within :data:`REPEAT_WINDOW` of that record's last
  change (clients retry within seconds; a redeploy of the same version an hour
  later is a deployment).  For a deployment the newest record is the top of its
  product's history in that environment; for a build, the newest build of its
  version (of its CI run, when the event names one).  A new attempt opens a new
  record: a CI re-run sends ``started`` again (opening a new one), another run
  has another run id, and a record written in between (another version, or a
  rollback) means the finish is not a repeat any more.
- :func:`rollback_mark_target`: a full version names, in each place (product ×
  environment), its newest deployment that is ``completed`` or ``rolled_back``.
  A ``completed`` one is marked; a ``rolled_back`` one is answered unchanged (the
  mark was already made: a retry).  Any other status is an illegal transition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shipmate.domain.fielddicts import record_from
from shipmate.domain.lifecycle import Status
from shipmate.domain.records import DeploymentRecord
from shipmate.errors import InvalidInputError, NotFoundError

__all__ = [
    "FINISHES",
    "REPEAT_WINDOW",
    "FinishEvent",
    "RecordedFinish",
    "is_repeated_finish",
    "rollback_mark_target",
]

#: The statuses a repeated event may replay instead of opening a new deployment.
FINISHES = frozenset({Status.COMPLETED, Status.FAILED, Status.ABORTED})

#: How long after a record's last change a finish event can still be its retry.
#: The Versioner CLI gives up after about 2.5 minutes (4 attempts, 30 s timeouts,
#: 1/2/4 s apart); shipmate's CLI after ``SHIPMATE_RETRY_SECONDS`` (30 s).
REPEAT_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class FinishEvent:
    """What a finish event says about the deployment or build it would record."""

    status: Status
    version: str
    build_number: int | None
    ci_run_id: str | None
    #: A deployment's kind; None for a build (builds have none).
    kind: str | None
    reverts_id: int | None = None
    commit_sha: str | None = None
    #: The times the event states (a retry states the same ones), if any.
    started_at: datetime | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True)
class RecordedFinish:
    """What a recorded deployment or build says, as far as a repeat is concerned."""

    status: str
    version: str
    build_number: int | None
    ci_run_id: str | None
    commit_sha: str | None
    started_at: datetime | None
    finished_at: datetime | None
    #: The record's last change, by the server's clock.
    updated_at: datetime
    kind: str | None = None
    reverts_id: int | None = None

    @classmethod
    def of_deployment(cls, d: DeploymentRecord) -> RecordedFinish:
        return record_from(cls, d)


def is_repeated_finish(latest: RecordedFinish | None, event: FinishEvent, now: datetime) -> bool:
    """Whether ``event`` repeats ``latest``, the newest record of its identity.

    A CI run id on the event must be the record's; an event without one repeats
    a record of any run (the retry of a finish whose start named the run carries
    no run id either).
    """
    if latest is None or event.status not in FINISHES:
        return False
    if latest.status != event.status.value or latest.version != event.version:
        return False
    if event.build_number is not None and latest.build_number != event.build_number:
        return False
    if event.ci_run_id is not None and latest.ci_run_id != event.ci_run_id:
        return False
    if latest.kind != event.kind:
        return False
    if event.reverts_id is not None and latest.reverts_id != event.reverts_id:
        return False
    if event.commit_sha is not None and latest.commit_sha not in (None, event.commit_sha):
        return False
    if event.started_at is not None and latest.started_at != event.started_at:
        return False
    if event.completed_at is not None and latest.finished_at != event.completed_at:
        return False
    return abs(now - latest.updated_at) <= REPEAT_WINDOW  # abs: replicas' clocks differ


def rollback_mark_target(ref: str, candidates: Sequence[DeploymentRecord]) -> DeploymentRecord:
    """The deployment a rollback mark by full version ``ref`` names.

    ``candidates`` are the deployments of that full version (already filtered by
    product and environment when those were given), newest first in history
    order.  Only ``completed`` and ``rolled_back`` ones count; in each place the
    newest of them is the one named.  Several places are ambiguous.
    """
    newest: dict[tuple[int, int], DeploymentRecord] = {}
    for d in candidates:
        if d.status in (Status.COMPLETED.value, Status.ROLLED_BACK.value):
            newest.setdefault((d.product_id, d.environment_id), d)
    if not newest:
        raise NotFoundError(
            f"no completed deployment of {ref} to mark rolled back", field="deployment"
        )
    if len(newest) > 1:
        found = list(newest.values())
        places = ", ".join(f"#{d.id} {d.product}/{d.environment}" for d in found[:5])
        raise InvalidInputError(
            f"{ref} matches deployments in {len(found)} places ({places}); "
            "name --product and --env, or give the deployment id",
            field="deployment",
        )
    return next(iter(newest.values()))
