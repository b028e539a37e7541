"""The input of DORA: one :class:`DeploymentFact` per deployment, checked on creation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shipmate.domain.lifecycle import DeploymentKind, Status
from shipmate.errors import InvalidInputError

__all__ = [
    "COMPLETED_STATUSES",
    "DeploymentFact",
    "Outcome",
    "aware",
    "outcome_at",
]

COMPLETED_STATUSES = frozenset({Status.COMPLETED, Status.ROLLED_BACK})
_STATUSES = frozenset(s.value for s in Status)
_KINDS = frozenset(k.value for k in DeploymentKind)


def aware(value: object, *, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidInputError(f"{field} must be a datetime, not {value!r}", field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(
            f"{field} {value.isoformat()} has no time zone; pass an aware datetime (UTC)",
            field=field,
        )
    return value


def _one_of(value: object, allowed: frozenset[str], field: str, fault: str, dep_id: int) -> None:
    if value not in allowed:
        raise InvalidInputError(
            f"{field} {value!r} {fault}; use one of " + ", ".join(sorted(allowed)),
            field=field,
            deployment_id=dep_id,
        )


@dataclass(frozen=True, slots=True)
class DeploymentFact:
    """What DORA needs to know about one deployment.

    ``commit_times`` are the commit times of the commits newly shipped by this
    deployment (every one when a repository is available, otherwise just the
    deployed commit's).  ``stream`` names the (product, environment) pair the
    deployment belongs to; recovery is matched within a stream.

    ``rolled_back_at`` is when the rollback of a ``rolled_back`` deployment was
    recorded (required for that status, refused for any other).
    ``served_traffic`` says whether a ``failed`` deployment had served traffic
    before it failed (its run failed after the switch, or a rollback reverted it);
    a completed or rolled-back deployment always went live.
    """

    id: int
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    commit_times: tuple[datetime, ...] = ()
    kind: str = DeploymentKind.DEPLOY.value
    stream: str = ""
    rolled_back_at: datetime | None = None
    served_traffic: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.id, int) or isinstance(self.id, bool):
            raise InvalidInputError("id must be an integer", field="id")
        _one_of(self.status, _STATUSES, "status", "is not canonical", self.id)
        _one_of(self.kind, _KINDS, "kind", "is not a deployment kind", self.id)
        object.__setattr__(self, "status", str(self.status))
        object.__setattr__(self, "kind", str(self.kind))
        if self.started_at is not None:
            aware(self.started_at, field="started_at")
        if self.finished_at is not None:
            aware(self.finished_at, field="finished_at")
        if not isinstance(self.commit_times, tuple):
            if isinstance(self.commit_times, str | bytes) or not isinstance(
                self.commit_times, Iterable
            ):
                raise InvalidInputError(
                    "commit_times must be a sequence of datetimes", field="commit_times"
                )
            object.__setattr__(self, "commit_times", tuple(self.commit_times))
        for moment in self.commit_times:
            aware(moment, field="commit_times")
        if not isinstance(self.stream, str):
            raise InvalidInputError("stream must be a string", field="stream")
        if self.status == Status.ROLLED_BACK:
            if self.rolled_back_at is None:
                raise InvalidInputError(
                    "a rolled-back deployment needs rolled_back_at, when its rollback was recorded",
                    field="rolled_back_at",
                    deployment_id=self.id,
                )
            aware(self.rolled_back_at, field="rolled_back_at")
        elif self.rolled_back_at is not None:
            raise InvalidInputError(
                f"rolled_back_at is only for a rolled-back deployment, not a {self.status} one",
                field="rolled_back_at",
                deployment_id=self.id,
            )
        if not isinstance(self.served_traffic, bool):
            raise InvalidInputError("served_traffic must be true or false", field="served_traffic")


class Outcome(StrEnum):
    """What a finished deployment amounted to at a given moment."""

    #: Went live and had not been rolled back by then.
    GOOD = "good"
    #: Went live and was a failure: rolled back by then, or failed after serving traffic.
    FAILED_LIVE = "failed_live"
    #: Failed before it served any traffic (a health check before the switch, say).
    STOPPED_BEFORE_TRAFFIC = "stopped_before_traffic"
    ABORTED = "aborted"


def outcome_at(fact: DeploymentFact, moment: datetime) -> Outcome | None:
    """The outcome of a finished ``fact`` as it stood at ``moment`` (None: not finished).

    A rollback recorded at or after ``moment`` had not happened yet, so the
    deployment still counts as good: a closed period never changes.
    """
    status = fact.status
    if status == Status.COMPLETED:
        return Outcome.GOOD
    if status == Status.ROLLED_BACK:
        assert fact.rolled_back_at is not None
        return Outcome.FAILED_LIVE if fact.rolled_back_at < moment else Outcome.GOOD
    if status == Status.FAILED:
        return Outcome.FAILED_LIVE if fact.served_traffic else Outcome.STOPPED_BEFORE_TRAFFIC
    if status == Status.ABORTED:
        return Outcome.ABORTED
    return None
