"""The values a run's flow works with: steps, their results, the plan, the live state, the end.

:mod:`shipmate.domain.runs.plan` is the flow itself; this module holds the data it
yields, receives and returns, and the step names.  Everything here is a JSON-able
frozen value, journaled with the run.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from shipmate.domain.fielddicts import fields_dict

__all__ = [
    "AWAIT_ROLLOUT",
    "CHECK_ARTIFACT",
    "HEALTH",
    "INSPECT",
    "KEEP_WARM",
    "MAX_RECORDED_OUTPUT",
    "POST_SWITCH_HEALTH",
    "RECORD_COMPLETED",
    "RECORD_FAILED",
    "RECORD_ROLLBACK",
    "RECORD_STARTED",
    "RESTORE",
    "RETIRE",
    "START",
    "STOP_NEW",
    "SWITCH",
    "Flow",
    "FlowEnd",
    "LiveState",
    "RunKind",
    "RunPlan",
    "Step",
    "StepResult",
    "clip",
]

RECORD_STARTED = "record_started"
INSPECT = "inspect"
CHECK_ARTIFACT = "check_artifact"
START = "start"
HEALTH = "health"
SWITCH = "switch"
POST_SWITCH_HEALTH = "post_switch_health"
RECORD_COMPLETED = "record_completed"
KEEP_WARM = "keep_warm"
RETIRE = "retire"
RESTORE = "restore"
STOP_NEW = "stop_new"
RECORD_FAILED = "record_failed"
RECORD_ROLLBACK = "record_rollback"
#: One host's part of a rollout across several hosts: switched and checked, it waits
#: (old slot warm) for the rollout's verdict, ``{"verdict": "continue" | "revert"}``.
AWAIT_ROLLOUT = "await_rollout"

#: Longest error/output text a step passes on to a deployment record.
MAX_RECORDED_OUTPUT = 4000

RunKind = Literal["deploy", "rollback"]


def clip(text: str | None, limit: int = MAX_RECORDED_OUTPUT) -> str:
    if not text:
        return ""
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


@dataclass(frozen=True)
class Step:
    """One thing to do.  ``args`` are JSON values; ``compensating`` marks failure handling."""

    name: str
    title: str
    args: Mapping[str, Any] = field(default_factory=dict)
    compensating: bool = False

    def to_dict(self) -> dict[str, Any]:
        return fields_dict(self, args=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        return cls(
            name=str(data["name"]),
            title=str(data.get("title", data["name"])),
            args=dict(data.get("args") or {}),
            compensating=bool(data.get("compensating", False)),
        )


@dataclass(frozen=True)
class StepResult:
    """What a step did: ``data`` feeds later steps; ``output`` is its log for people."""

    ok: bool
    data: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_code: str | None = None
    output: str = ""

    @classmethod
    def success(cls, data: Mapping[str, Any] | None = None, output: str = "") -> StepResult:
        return cls(True, dict(data or {}), output=output)

    @classmethod
    def failure(
        cls,
        error: str,
        *,
        code: str = "deploy_failed",
        output: str = "",
        data: Mapping[str, Any] | None = None,
    ) -> StepResult:
        return cls(False, dict(data or {}), error=error, error_code=code, output=output)

    def to_dict(self) -> dict[str, Any]:
        """The journaled form (the output is journaled beside it, not inside)."""
        return {
            "ok": self.ok,
            "data": dict(self.data),
            "error": self.error,
            "error_code": self.error_code,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], output: str = "") -> StepResult:
        return cls(
            ok=bool(data.get("ok")),
            data=dict(data.get("data") or {}),
            error=data.get("error"),
            error_code=data.get("error_code"),
            output=output,
        )


@dataclass(frozen=True)
class LiveState:
    """What ``inspect`` found: where traffic goes and what runs in each slot."""

    #: The slot taking traffic, when the switch holds a state shipmate wrote.
    slot: str | None = None
    version: str | None = None
    full_version: str | None = None
    #: The switch's state as the switch reported it (restore puts it back); None
    #: when the switch was never set.
    switch_state: Mapping[str, Any] | None = None
    #: slot -> full version running there (None: nothing runs, or unknown).
    running: Mapping[str, str | None] = field(default_factory=dict)
    #: The current deployment in shipmate's records, if any.
    deployment_id: int | None = None

    def describe(self) -> str:
        if self.slot is not None:
            return f"{self.full_version or self.version} in {self.slot}"
        if self.switch_state is not None:
            return "the configuration the switch held before"
        return "nothing (the switch was never set)"

    def to_dict(self) -> dict[str, Any]:
        return fields_dict(
            self, switch_state=lambda state: None if state is None else dict(state), running=dict
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LiveState:
        dep = data.get("deployment_id")
        state = data.get("switch_state")
        return cls(
            slot=data.get("slot"),
            version=data.get("version"),
            full_version=data.get("full_version"),
            switch_state=dict(state) if isinstance(state, Mapping) else None,
            running={str(k): v for k, v in dict(data.get("running") or {}).items()},
            deployment_id=int(dep) if dep is not None else None,
        )


@dataclass(frozen=True)
class RunPlan:
    """The flow's input: everything it decides from, all of it journaled with the run."""

    kind: RunKind
    product: str
    environment: str
    version: str
    full_version: str
    slots: tuple[str, ...]
    build_number: int | None = None
    keep_warm: float = 30.0
    post_switch_check: bool = True
    #: The deployment a rollback reverts (the current one).
    reverts_id: int | None = None
    #: Extension points: steps other features put before the app starts (interim
    #: versions' actions) and before the old slot retires (drain checks).
    before_start: tuple[Step, ...] = ()
    before_retire: tuple[Step, ...] = ()
    #: This run is one host's part of a rollout across several hosts: after its
    #: check through the switch it waits for the rollout's verdict (``await_rollout``).
    awaits_rollout: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "product": self.product,
            "environment": self.environment,
            "version": self.version,
            "full_version": self.full_version,
            "build_number": self.build_number,
            "slots": list(self.slots),
            "keep_warm": self.keep_warm,
            "post_switch_check": self.post_switch_check,
            "reverts_id": self.reverts_id,
            "before_start": [s.to_dict() for s in self.before_start],
            "before_retire": [s.to_dict() for s in self.before_retire],
        }
        if self.awaits_rollout:  # absent otherwise: a one-host run's journal is unchanged
            data["awaits_rollout"] = True
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunPlan:
        kind = data["kind"]
        if kind not in ("deploy", "rollback"):
            raise ValueError(f"unknown run kind {kind!r}")
        build = data.get("build_number")
        reverts = data.get("reverts_id")
        return cls(
            kind=kind,
            product=str(data["product"]),
            environment=str(data["environment"]),
            version=str(data["version"]),
            full_version=str(data["full_version"]),
            build_number=int(build) if build is not None else None,
            slots=tuple(str(s) for s in data["slots"]),
            keep_warm=float(data.get("keep_warm", 30.0)),
            post_switch_check=bool(data.get("post_switch_check", True)),
            reverts_id=int(reverts) if reverts is not None else None,
            before_start=tuple(Step.from_dict(s) for s in data.get("before_start") or ()),
            before_retire=tuple(Step.from_dict(s) for s in data.get("before_retire") or ()),
            awaits_rollout=bool(data.get("awaits_rollout", False)),
        )


@dataclass(frozen=True)
class FlowEnd:
    """How a run ended."""

    #: ``completed_draining``: completed, but the old slot was left running because
    #: its in-flight work had not drained by the deadline (a hook said ``draining``).
    status: Literal["completed", "completed_draining", "failed"]
    message: str
    deployment_id: int | None = None
    #: The automatic rollback's deployment, when a deploy failed after its switch.
    rollback_deployment_id: int | None = None
    failed_step: str | None = None
    error: str | None = None
    error_code: str | None = None
    #: Traffic was moved back to where it was before the run.
    switched_back: bool = False
    #: The old slot was stopped.
    retired: bool = False
    slot: str | None = None

    @classmethod
    def failed(
        cls,
        message: str,
        step: str,
        result: StepResult,
        *,
        deployment_id: int | None,
        slot: str | None,
        rollback_deployment_id: int | None = None,
        switched_back: bool = False,
    ) -> FlowEnd:
        """A run that failed at ``step`` with ``result``'s error."""
        return cls(
            "failed",
            message,
            deployment_id=deployment_id,
            rollback_deployment_id=rollback_deployment_id,
            failed_step=step,
            error=result.error,
            error_code=result.error_code,
            switched_back=switched_back,
            slot=slot,
        )

    def to_dict(self) -> dict[str, Any]:
        return fields_dict(self)


Flow = Generator[Step, StepResult, FlowEnd]
