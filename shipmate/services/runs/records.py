"""What a run and its steps look like when read back, and who may own a run.

:class:`RunRecord` and :class:`RunStepRecord` are the frozen rows of ``runs`` and
``run_steps`` (:mod:`shipmate.services.runs.journal` writes them).  An *owner* is a
process, named ``host|pid|start time|boot id|random``: :func:`owner_alive` tells
whether it still runs (None when it is on another host, where only the lease can
tell), :func:`owner_host` on which host it ran.

``attention`` is set by ``shipmate serve`` when it notices a running run nobody
drives any more: the server never resumes a run itself (only a process on the
run's host does), it only says that the run needs someone.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from shipmate.domain.inputs.fields import format_time
from shipmate.domain.record_dicts import id_text, record_dict, time_fields
from shipmate.domain.runs.plan import StepResult
from shipmate.engine import procfs
from shipmate.store.decoding import RowDecoder, json_object

__all__ = [
    "RUNNING",
    "RunRecord",
    "RunStepRecord",
    "describe_owner",
    "new_owner",
    "owner_alive",
    "owner_host",
    "row_to_run",
    "row_to_step",
    "this_host",
]

RUNNING = "running"


def this_host() -> str:
    """This host's name as owners record it."""
    return socket.gethostname()[:100]


def new_owner() -> str:
    """This process's identity: ``host|pid|start time|boot id|random``."""
    pid = os.getpid()
    stat = procfs.read_stat(pid)
    start = stat.start_time if stat is not None else -1
    host = this_host()
    return f"{host}|{pid}|{start}|{procfs.boot_id()}|{uuid.uuid4().hex[:8]}"


def owner_alive(owner: str) -> bool | None:
    """Whether the owning process still runs: None when it is on another host."""
    parts = owner.split("|")
    if len(parts) < 4 or parts[0] != this_host():
        return None
    try:
        pid, start = int(parts[1]), int(parts[2])
    except ValueError:
        return None
    return procfs.identity_alive(pid, start, parts[3])


def owner_host(owner: str | None) -> str | None:
    """The host an owner ran on (None for no owner)."""
    if not owner or "|" not in owner:
        return None
    return owner.split("|", 1)[0]


def describe_owner(owner: str | None) -> str:
    if owner is None:
        return "no process"
    parts = owner.split("|")
    if len(parts) >= 2:
        return f"process {parts[1]} on {parts[0]}"
    return owner


@dataclass(frozen=True)
class RunStepRecord:
    seq: int
    name: str
    title: str
    status: str
    attempts: int
    args: dict[str, Any]
    result: dict[str, Any] | None
    output: str | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None

    @property
    def step_result(self) -> StepResult | None:
        if self.result is None:
            return None
        return StepResult.from_dict(self.result, self.output or "")

    def to_dict(self) -> dict[str, Any]:
        return record_dict(self, time_fields("started_at", "finished_at"))


@dataclass(frozen=True)
class RunRecord:
    id: int
    kind: str
    product: str
    environment: str
    version: str
    build_number: int | None
    full_version: str
    status: str
    owner: str | None
    lease_until: datetime | None
    attempts: int
    actor: str | None
    deployment_id: int | None
    reverts_id: int | None
    rollback_deployment_id: int | None
    params: dict[str, Any]
    error: str | None
    error_code: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    steps: tuple[RunStepRecord, ...] = field(default=())
    #: Why the run needs someone (set by ``shipmate serve``), and since when.
    attention: str | None = None
    attention_at: datetime | None = None
    #: The host whose agent must execute the run (``runs.host``); None for a local run.
    agent_host: str | None = None
    #: The run coordinating a rollout across several hosts, on each per-host run.
    parent_id: int | None = None

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    @property
    def host(self) -> str | None:
        """The host whose processes and nginx the run drives (None: not recorded)."""
        if self.agent_host:
            return self.agent_host
        host = self.params.get("host")
        return str(host) if host else owner_host(self.owner)

    def owner_gone(self, now: datetime) -> bool:
        """Nobody drives this run any more (it may be taken over)."""
        if self.owner is None:
            return True
        alive = owner_alive(self.owner)
        if alive is False:
            return True
        return self.lease_until is None or self.lease_until < now

    def state(self, now: datetime) -> str:
        """``status``, with ``interrupted`` for a running run nobody drives."""
        if self.running and self.owner_gone(now):
            return "interrupted"
        return self.status

    def to_dict(self, *, now: datetime | None = None, with_steps: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": str(self.id),
            "kind": self.kind,
            "product": self.product,
            "environment": self.environment,
            "version": self.version,
            "build_number": self.build_number,
            "full_version": self.full_version,
            "status": self.status,
            "state": self.state(now) if now is not None else self.status,
            "owner": self.owner,
            "lease_until": format_time(self.lease_until) if self.lease_until else None,
            "attempts": self.attempts,
            "actor": self.actor,
            "deployment_id": id_text(self.deployment_id),
            "reverts_id": id_text(self.reverts_id),
            "rollback_deployment_id": id_text(self.rollback_deployment_id),
            "error": self.error,
            "error_code": self.error_code,
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at),
            "finished_at": format_time(self.finished_at) if self.finished_at else None,
            "host": self.host,
            "agent": self.agent_host is not None,
            "parent_id": id_text(self.parent_id),
            "attention": self.attention,
            "attention_at": format_time(self.attention_at) if self.attention_at else None,
        }
        if with_steps:
            body["steps"] = [s.to_dict() for s in self.steps]
        return body


def _optional_object(value: Any) -> dict[str, Any] | None:
    return None if value is None else dict(value)


def _optional_id(value: Any) -> int | None:
    return None if value is None else int(value)


_run_decoder = RowDecoder(
    RunRecord,
    columns={"agent_host": "host"},
    convert={"id": int, "attempts": int, "params": json_object, "parent_id": _optional_id},
    skip=("steps",),
)
_step_decoder = RowDecoder(
    RunStepRecord,
    convert={"seq": int, "attempts": int, "args": json_object, "result": _optional_object},
)


def row_to_run(row: Row[Any], steps: Sequence[RunStepRecord] = ()) -> RunRecord:
    return _run_decoder(row, steps=tuple(steps))


def row_to_step(row: Row[Any]) -> RunStepRecord:
    return _step_decoder(row)
