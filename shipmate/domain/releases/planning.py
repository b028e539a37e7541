"""Plans for moving an environment along a product's lineage, running release actions.

Seed 004 (DeployHub) is the model: moving an environment from its current version
to a target visits every interim version in order and runs that version's own
actions, with flags telling each action where it stands.

Two versions per environment
----------------------------
* ``current`` is the running **application** version (None: a fresh environment,
  nothing delivered yet).
* ``position`` is the **schema position**: the version the release actions have
  brought the environment to.  Completing a version's ``up`` actions moves it to
  that version; completing a version's ``down`` actions moves it to the version
  before it in the lineage (``PlanStep.position_after`` says which, so the caller
  records it after each step).  After a failed run it may differ from ``current``.
  ``position=None`` means "equal to ``current``" (the normal case, and a fresh
  environment that has never run an action).

The walk
--------
The versions visited are ``lineage.path(position, target)``:

* **rollforward** (target after the position, or nothing applied yet): every
  version after the position up to and including the target, ascending, each
  running its ``up`` actions in ascending ``order``.  A fresh environment starts
  at the base, inclusive.  Re-running after a failure therefore continues right
  after the last completed version and never repeats one.  The position moves
  per version, not per action: if the second of three actions of a version
  failed, a re-run starts that version again at its first action.
* **rollback** (target before the position): the position down to but *excluding*
  the target, descending, each running its ``down`` actions in *descending*
  ``order`` (the reverse of the ups, so down N undoes up N, last first).  Only
  versions at or below the position are visited: what was never applied is
  never undone.  The application ends on the target; the target's own downs do
  not run.
* **position already at the target**: one step for the target with no actions
  (``phase`` None); the application may still have to move.  ``same`` is the
  case where the application is also on the target.

``Plan.direction`` is the direction of the walk from the position; when the
position is already at the target it is that of the application's move from
``current`` to the target (``same`` when they are equal).  Every step carries the
flags DeployHub sets: ``first`` on the first visited version, ``last`` on the last
one (the application itself is delivered after that step), and exactly one of
``rollforward``, ``rollback``, ``same``.  :meth:`PlanStep.env` gives them to
actions as ``SHIPMATE_DEP_*`` variables.

Release actions
---------------
A :class:`ReleaseAction` is a shell command or a SQL script of one version and
phase (``up``/``down``).  SQL names its database by reference: the *name* of an
environment variable holding its URL, never the URL.  Its checksum is
:func:`action_checksum` of kind, body and database reference; ``(version, phase,
order)`` is unique among a product's actions.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shipmate.domain.fielddicts import fields_dict
from shipmate.domain.releases.lineage import Direction, Lineage
from shipmate.domain.versions import validate_version
from shipmate.errors import ConflictError, InvalidInputError

__all__ = [
    "ActionKind",
    "Direction",
    "Phase",
    "Plan",
    "PlanStep",
    "ReleaseAction",
    "action_checksum",
    "format_step_progress",
    "plan",
]

MAX_ACTION_NAME_LENGTH = 255
_ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: Width of the flags column in :meth:`Plan.render_lines`: the longest flag text,
#: ``first last rollforward``.
_FLAGS_WIDTH = len("first last rollforward")


class Phase(StrEnum):
    UP = "up"
    DOWN = "down"


class ActionKind(StrEnum):
    SHELL = "shell"
    SQL = "sql"


def action_checksum(kind: str, body: str, database_ref: str | None) -> str:
    """Hex SHA-256 of ``kind``, ``body`` and ``database_ref`` (empty when None).

    The three are UTF-8 encoded and joined with NUL bytes, so no two different
    triples give the same input.
    """
    data = "\0".join((str(kind), body, database_ref or ""))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ReleaseAction:
    """One command or SQL script of a version, run when an environment passes it.

    Strings are accepted for ``phase`` and ``kind`` and turned into the enums;
    ``checksum`` is computed when empty and must match when given (a mismatch is
    a ConflictError: the stored action was changed behind shipmate's back).
    """

    version: str
    phase: Phase
    order: int
    kind: ActionKind
    name: str
    body: str
    database_ref: str | None = None
    checksum: str = ""

    def __post_init__(self) -> None:
        validate_version(self.version, field="version")
        label = f"action {self.name!r} of version {self.version}"
        try:
            object.__setattr__(self, "phase", Phase(self.phase))
        except ValueError:
            raise InvalidInputError(
                f"phase of {label} must be 'up' or 'down', not {self.phase!r}", field="phase"
            ) from None
        try:
            object.__setattr__(self, "kind", ActionKind(self.kind))
        except ValueError:
            raise InvalidInputError(
                f"kind of {label} must be 'shell' or 'sql', not {self.kind!r}", field="kind"
            ) from None
        if isinstance(self.order, bool) or not isinstance(self.order, int) or self.order < 0:
            raise InvalidInputError(
                f"order of {label} must be a whole number >= 0, not {self.order!r}",
                field="order",
            )
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInputError(
                f"name of the {self.phase} action #{self.order} of version {self.version} "
                "must not be empty",
                field="name",
            )
        if len(self.name) > MAX_ACTION_NAME_LENGTH:
            raise InvalidInputError(
                f"name of a {self.phase} action of version {self.version} is "
                f"{len(self.name)} characters long; "
                f"the limit is {MAX_ACTION_NAME_LENGTH}",
                field="name",
            )
        if not isinstance(self.body, str) or not self.body.strip():
            raise InvalidInputError(f"body of {label} must not be empty", field="body")
        if self.kind is ActionKind.SQL:
            ref = self.database_ref
            if ref is None or not ref.strip():
                raise InvalidInputError(
                    f"{label} is SQL and needs database_ref: the name of an environment "
                    "variable holding the database URL",
                    field="database_ref",
                )
            if "://" in ref or not _ENV_VAR_NAME.match(ref):
                raise InvalidInputError(
                    f"database_ref of {label} must name an environment variable "
                    "(letters, digits and _, e.g. APP_DB_URL) holding the database URL, "
                    "never the URL itself",
                    field="database_ref",
                )
        elif self.database_ref is not None:
            raise InvalidInputError(
                f"{label} is a shell command and takes no database_ref", field="database_ref"
            )
        expected = action_checksum(self.kind, self.body, self.database_ref)
        if not self.checksum:
            object.__setattr__(self, "checksum", expected)
        elif self.checksum != expected:
            raise ConflictError(
                f"{label} does not match its checksum: it was changed after it was recorded",
                field="checksum",
                version=self.version,
                action=self.name,
                expected=self.checksum,
                actual=expected,
            )

    @classmethod
    def create(
        cls,
        *,
        version: str,
        phase: str,
        order: int,
        kind: str,
        name: str,
        body: str,
        database_ref: str | None = None,
        checksum: str = "",
    ) -> ReleaseAction:
        """Build from plain strings (rows, input), validating every field."""
        return cls(
            version=version,
            phase=phase,  # type: ignore[arg-type]  # coerced and checked in __post_init__
            order=order,
            kind=kind,  # type: ignore[arg-type]
            name=name,
            body=body,
            database_ref=database_ref,
            checksum=checksum,
        )

    def describe(self) -> str:
        """``migrations/1.2.0/up.sql (sql, db: APP_DB_URL)`` or ``warm.sh (shell)``."""
        if self.kind is ActionKind.SQL:
            return f"{self.name} (sql, db: {self.database_ref})"
        return f"{self.name} (shell)"

    def to_dict(self) -> dict[str, Any]:
        return fields_dict(self, phase=str, kind=str)


@dataclass(frozen=True, slots=True)
class PlanStep:
    """One visited version: its actions and where it stands in the walk."""

    version: str
    index: int
    total: int
    phase: Phase | None
    first: bool
    last: bool
    rollforward: bool
    rollback: bool
    same: bool
    actions: tuple[ReleaseAction, ...]
    from_version: str | None
    to_version: str
    position_after: str

    @property
    def flags(self) -> tuple[str, ...]:
        """The names of the flags that are set, in DeployHub's order."""
        names = ("first", "last", "rollforward", "rollback", "same")
        values = (self.first, self.last, self.rollforward, self.rollback, self.same)
        return tuple(name for name, value in zip(names, values, strict=True) if value)

    def env(self) -> dict[str, str]:
        """The environment variables every action of this step runs with."""

        def flag(value: bool) -> str:
            return "1" if value else "0"

        return {
            "SHIPMATE_DEP_FIRST": flag(self.first),
            "SHIPMATE_DEP_LAST": flag(self.last),
            "SHIPMATE_DEP_ROLLFORWARD": flag(self.rollforward),
            "SHIPMATE_DEP_ROLLBACK": flag(self.rollback),
            "SHIPMATE_DEP_SAME": flag(self.same),
            "SHIPMATE_VERSION": self.version,
            "SHIPMATE_FROM_VERSION": self.from_version or "",
            "SHIPMATE_TO_VERSION": self.to_version,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "index": self.index,
            "total": self.total,
            "phase": None if self.phase is None else str(self.phase),
            "flags": {
                "first": self.first,
                "last": self.last,
                "rollforward": self.rollforward,
                "rollback": self.rollback,
                "same": self.same,
            },
            "position_after": self.position_after,
            "env": self.env(),
            "actions": [action.to_dict() for action in self.actions],
        }


@dataclass(frozen=True, slots=True)
class Plan:
    """The whole walk of one environment to a target.  Nothing here has run."""

    current: str | None
    position: str | None
    target: str
    direction: Direction
    base: str
    steps: tuple[PlanStep, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def fresh(self) -> bool:
        """True when no application version runs in the environment yet."""
        return self.current is None

    @property
    def total(self) -> int:
        return len(self.steps)

    @property
    def action_count(self) -> int:
        return sum(len(step.actions) for step in self.steps)

    def render_lines(self, product: str, environment: str) -> list[str]:
        """The human plan: a header, maybe a position line, then one line per action.

        ::

            product api in production: 1.1.0 -> 1.3.0 (rollforward, 2 versions)
            [1/2] 1.2.0  up   first rollforward      migrations/1.2.0/up.sql (sql, db: APP_DB_URL)
            [2/2] 1.3.0  up   last rollforward       (no actions)

        A step with several actions continues on lines indented to the action column.
        """
        if self.current is not None:
            start = self.current
        elif self.position is None:
            start = f"none (fresh environment, starting from base {self.base})"
        else:
            start = "none (fresh environment)"
        count = f"{self.total} version{'s' if self.total != 1 else ''}"
        lines = [
            f"product {product} in {environment}: {start} -> {self.target} "
            f"({self.direction}, {count})"
        ]
        if self.position != self.current:
            lines.append(
                f"schema position: {self.position} (actions have run up to here; "
                "the walk starts from it)"
            )
        counter_width = len(f"[{self.total}/{self.total}]")
        version_width = max((len(step.version) for step in self.steps), default=0)
        for step in self.steps:
            counter = f"[{step.index}/{step.total}]".ljust(counter_width)
            phase = "-" if step.phase is None else str(step.phase)
            prefix = (
                f"{counter} {step.version.ljust(version_width)}  {phase.ljust(4)} "
                f"{' '.join(step.flags).ljust(_FLAGS_WIDTH)} "
            )
            if not step.actions:
                lines.append(prefix + "(no actions)")
                continue
            lines.append(prefix + step.actions[0].describe())
            lines.extend(" " * len(prefix) + action.describe() for action in step.actions[1:])
        if self.direction is Direction.ROLLBACK and self.position != self.target:
            lines.append(f"{self.target} is the target: its own down actions do not run")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """The plan for ``--json`` and the API."""
        return {
            "current": self.current,
            "position": self.position,
            "target": self.target,
            "direction": str(self.direction),
            "base": self.base,
            "fresh": self.fresh,
            "total": self.total,
            "versions": [step.version for step in self.steps],
            "steps": [step.to_dict() for step in self.steps],
            "warnings": list(self.warnings),
        }


def plan(
    lineage: Lineage,
    current: str | None,
    target: str,
    actions: Sequence[ReleaseAction],
    *,
    position: str | None = None,
) -> Plan:
    """Plan moving an environment from ``current`` (schema at ``position``) to ``target``.

    See the module docstring for the rules.  Unknown versions raise NotFoundError
    naming ``current``, ``position`` or ``target``; actions of versions outside the
    lineage, or two actions sharing ``(version, phase, order)``, raise
    InvalidInputError listing every one.
    """
    lineage.index(target, field="target")
    if current is not None:
        lineage.index(current, field="current")
    if position is not None:
        lineage.index(position, field="position")
    effective_position = current if position is None else position
    _check_actions(lineage, actions)

    walk_direction, walk = lineage.path(effective_position, target)
    if walk_direction is Direction.SAME:
        direction = lineage.direction(current, target)
        phase: Phase | None = None
        visits = [target]
        after = [target]
    else:
        direction = walk_direction
        if direction is Direction.ROLLFORWARD:
            phase = Phase.UP
            visits = walk
            after = walk
        else:
            phase = Phase.DOWN
            visits = walk
            after = [*walk[1:], target]

    total = len(visits)
    steps = tuple(
        PlanStep(
            version=version,
            index=i,
            total=total,
            phase=phase,
            first=i == 1,
            last=i == total,
            rollforward=direction is Direction.ROLLFORWARD,
            rollback=direction is Direction.ROLLBACK,
            same=direction is Direction.SAME,
            actions=_actions_for(actions, version, phase),
            from_version=current,
            to_version=target,
            position_after=position_after,
        )
        for i, (version, position_after) in enumerate(zip(visits, after, strict=True), start=1)
    )
    return Plan(
        current=current,
        position=effective_position,
        target=target,
        direction=direction,
        base=lineage.base,
        steps=steps,
        warnings=lineage.warnings,
    )


def format_step_progress(
    step: PlanStep,
    action: ReleaseAction | None,
    outcome: str,
    elapsed_ms: float | None = None,
) -> str:
    """One live log line: ``[2/4] 1.2.0 up: migrations/1.2.0/up.sql … ok 120 ms``.

    ``action`` None stands for a step without actions (``[1/1] 1.3.0: no actions
    … ok``); ``elapsed_ms`` None leaves the time out (for a "running" line).
    Under a second the time is in whole milliseconds, from a second on in seconds
    with one decimal.
    """
    head = f"[{step.index}/{step.total}] {step.version}"
    if action is None:
        text = f"{head}: no actions … {outcome}"
    else:
        text = f"{head} {action.phase}: {action.name} … {outcome}"
    if elapsed_ms is not None:
        text += " " + _format_elapsed(elapsed_ms)
    return text


def _format_elapsed(elapsed_ms: float) -> str:
    ms = max(0, round(elapsed_ms))
    if ms < 1000:
        return f"{ms} ms"
    return f"{ms / 1000:.1f} s"


def _actions_for(
    actions: Iterable[ReleaseAction], version: str, phase: Phase | None
) -> tuple[ReleaseAction, ...]:
    if phase is None:
        return ()
    chosen = [a for a in actions if a.version == version and a.phase is phase]
    chosen.sort(key=lambda a: (a.order, a.name), reverse=phase is Phase.DOWN)
    return tuple(chosen)


def _check_actions(lineage: Lineage, actions: Sequence[ReleaseAction]) -> None:
    unknown: list[str] = []
    for action in actions:
        if action.version not in lineage and action.version not in unknown:
            unknown.append(action.version)
    problems: list[dict[str, Any]] = [
        {"problem": "unknown_version", "version": version} for version in unknown
    ]
    messages: list[str] = []
    if unknown:
        messages.append("actions belong to versions not in the lineage: " + ", ".join(unknown))
    seen: dict[tuple[str, Phase, int], str] = {}
    for action in actions:
        key = (action.version, action.phase, action.order)
        if key not in seen:
            seen[key] = action.name
            continue
        problems.append(
            {
                "problem": "duplicate_order",
                "version": action.version,
                "phase": str(action.phase),
                "order": action.order,
                "names": [seen[key], action.name],
            }
        )
        messages.append(
            f"actions {seen[key]!r} and {action.name!r} of version {action.version} "
            f"both have {action.phase} order {action.order}"
        )
    if problems:
        raise InvalidInputError(
            "release actions cannot be planned: " + "; ".join(messages),
            field="actions",
            problems=problems,
        )
