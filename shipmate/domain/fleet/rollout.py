"""One run across a group of hosts: its batches, what to do next, how it ended (pure).

A rollout deploys (or rolls back) one release to every host that serves an
environment.  Each host executes its own part, a blue-green run of its own, and
reports how far it got; :func:`decide` looks at every host's state and says what the
coordinator does next::

    plan = RolloutPlan(("web-1", "web-2", "web-3"), strategy="rolling", batch=1)
    decide(plan, {"web-1": HostProgress(QUEUED), ...})
    # -> Decision(release=("web-1",))          the first batch starts
    decide(plan, {"web-1": HostProgress(HEALTHY), "web-2": ..QUEUED.., ...})
    # -> Decision(release=("web-2",))          web-1 is healthy: the next batch starts

The coordinator applies a decision (starts the released hosts, hands out the
verdicts, marks the skipped hosts ``skipped``), records it in each host's progress
(``verdict``), and calls :func:`decide` again whenever a host reports, until a
decision carries the ``result``.  Deciding twice on the same progress gives the same
decision, so a coordinator that died between deciding and recording decides again.

Rules:

* ``all`` is one batch of every host; ``rolling`` takes ``batch`` hosts at a time
  (a number, or a share such as ``"34%"``, rounded up, at least one host).
* A batch is released only once every host of the batches before it is *healthy*:
  switched, and its check after the switch passed.
* A healthy host waits (its flow's ``await_rollout`` step, its old slot still warm)
  until the coordinator gives it a verdict.  When every host is healthy, every host
  is told ``continue`` (record completed, keep warm, retire).
* A host failing before every host was told to continue stops the rollout: hosts of
  later batches are never started (``skip``), hosts that reach ``await_rollout``
  are told ``revert`` (switch back to their still-warm old slot, stop the new one),
  and the rollout fails naming the host that failed and why.
* A host failing after the verdict ``continue`` (while its old slot is kept warm,
  for instance) fails the rollout too, but nothing is reverted: the other hosts were
  told to continue and may have retired their old slots already.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

__all__ = [
    "FAILED",
    "FAILED_BEFORE_SWITCH",
    "FINISHED",
    "HEALTHY",
    "QUEUED",
    "REVERTED",
    "RUNNING",
    "SKIPPED",
    "SWITCHED",
    "SWITCHED_BACK",
    "TERMINAL",
    "Decision",
    "HostProgress",
    "HostState",
    "RolloutPlan",
    "RolloutResult",
    "Strategy",
    "Verdict",
    "batch_hosts",
    "batches",
    "decide",
    "describe_hosts",
]

Strategy = Literal["all", "rolling"]
Verdict = Literal["continue", "revert"]
HostState = Literal[
    "queued",
    "running",
    "switched",
    "healthy",
    "finished",
    "failed_before_switch",
    "switched_back",
    "failed",
    "reverted",
    "skipped",
]

#: Not released yet (a later batch).
QUEUED: HostState = "queued"
#: Released; its run has not switched traffic yet.
RUNNING: HostState = "running"
#: Traffic goes to the new version; the check after the switch has not passed yet.
SWITCHED: HostState = "switched"
#: Switched and checked after the switch: waiting for the verdict, old slot warm.
HEALTHY: HostState = "healthy"
#: Its run completed (the verdict was ``continue``).
FINISHED: HostState = "finished"
#: Its run failed before its switch: traffic never moved on this host.
FAILED_BEFORE_SWITCH: HostState = "failed_before_switch"
#: Its run failed after its switch and traffic went back to the old slot.
SWITCHED_BACK: HostState = "switched_back"
#: Its run failed and traffic could not be put back (or it failed after continuing
#: and its own run says where traffic is).
FAILED: HostState = "failed"
#: Told ``revert`` (another host failed): traffic is back on the old slot.
REVERTED: HostState = "reverted"
#: Never started: the rollout stopped before its batch.
SKIPPED: HostState = "skipped"


TERMINAL: frozenset[str] = frozenset(
    {FINISHED, FAILED_BEFORE_SWITCH, SWITCHED_BACK, FAILED, REVERTED, SKIPPED}
)
#: A host's own failure (``reverted`` and ``skipped`` are what another's failure caused).
_FAILURES = frozenset({FAILED_BEFORE_SWITCH, SWITCHED_BACK, FAILED})
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def batch_hosts(batch: int | float | str, hosts: int) -> int:
    """How many hosts a rolling batch takes: ``batch`` hosts, or a share rounded up.

    ``batch`` is a number of hosts (``2``), a share written ``"34%"`` or a fraction
    (``0.34``, as a parsed ``"34%"`` may be held).  Always at least 1 and at most
    ``hosts``.  The share is computed exactly: ``"7%"`` of 100 hosts is 7, where
    ``ceil(100 * 0.07)`` in floats is 8.
    """
    if isinstance(batch, bool):
        raise ValueError(f"batch must be a number of hosts or a share like '34%', not {batch!r}")
    share: Fraction | None = None
    if isinstance(batch, str):
        match = _PERCENT.match(batch)
        if match is None:
            raise ValueError(f"batch {batch!r} is neither a number of hosts nor a share like '34%'")
        share = Fraction(match.group(1)) / 100
    elif isinstance(batch, float):
        share = Fraction(str(batch))
    if share is None and isinstance(batch, int):
        if batch < 1:
            raise ValueError(f"batch {batch!r} must be at least 1 host")
        return max(0, min(hosts, batch))
    if share is not None:
        if not 0 < share <= 1:
            raise ValueError(f"batch {batch!r} must be a share above 0% and at most 100%")
        return max(min(hosts, 1), min(hosts, math.ceil(share * hosts)))
    raise ValueError(f"batch must be a number of hosts or a share like '34%', not {batch!r}")


def batches(
    hosts: Sequence[str], strategy: Strategy, batch: int | float | str = 1
) -> list[tuple[str, ...]]:
    """The hosts in the order they are released, one tuple per batch."""
    if strategy == "all":
        return [tuple(hosts)] if hosts else []
    if strategy != "rolling":
        raise ValueError(f"unknown strategy {strategy!r}; it must be one of: all, rolling")
    size = batch_hosts(batch, len(hosts))
    if not hosts:
        return []
    return [tuple(hosts[i : i + size]) for i in range(0, len(hosts), size)]


@dataclass(frozen=True)
class RolloutPlan:
    hosts: tuple[str, ...]
    strategy: Strategy = "rolling"
    batch: int | float | str = 1

    def __post_init__(self) -> None:
        if len(set(self.hosts)) != len(self.hosts):
            raise ValueError(f"a host is named twice in {list(self.hosts)}")

    @property
    def batches(self) -> list[tuple[str, ...]]:
        return batches(self.hosts, self.strategy, self.batch)


@dataclass(frozen=True)
class HostProgress:
    """Where one host's part is, as the coordinator knows it."""

    state: HostState
    #: The verdict this host was already given (the coordinator records it).
    verdict: Verdict | None = None
    #: Why it failed: the failing step and its error, for the rollout's result.
    failed_step: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class RolloutResult:
    status: Literal["completed", "failed"]
    message: str
    #: Hosts that failed on their own, in plan order (empty when completed).
    failed_hosts: tuple[str, ...] = ()
    #: Every host's end state.
    hosts: Mapping[str, HostState] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """What the coordinator does now; nothing to do (wait) when every field is empty."""

    #: Hosts to start (their batch's turn came).
    release: tuple[str, ...] = ()
    #: Hosts waiting at ``await_rollout`` and the verdict to give each.
    verdicts: Mapping[str, Verdict] = field(default_factory=dict)
    #: Queued hosts the rollout will never start (mark them skipped).
    skip: tuple[str, ...] = ()
    #: Set when the rollout is over.
    result: RolloutResult | None = None

    @property
    def waiting(self) -> bool:
        return not (self.release or self.verdicts or self.skip or self.result)


def decide(plan: RolloutPlan, progress: Mapping[str, HostProgress]) -> Decision:
    """The next action for ``plan`` given every host's ``progress`` (see the module rules)."""
    missing = [h for h in plan.hosts if h not in progress]
    extra = [h for h in progress if h not in plan.hosts]
    if missing or extra:
        raise ValueError(f"progress does not match the plan: missing {missing}, unknown {extra}")
    states = {h: progress[h].state for h in plan.hosts}
    failed = tuple(h for h in plan.hosts if states[h] in _FAILURES)
    continued = any(progress[h].verdict == "continue" for h in plan.hosts)

    if failed and not continued:
        skip = tuple(h for h in plan.hosts if states[h] == QUEUED)
        revert: dict[str, Verdict] = {
            h: "revert" for h in plan.hosts if states[h] == HEALTHY and progress[h].verdict is None
        }
        after: dict[str, HostState] = {**states, **{h: SKIPPED for h in skip}}
        if skip or revert:
            return Decision(verdicts=revert, skip=skip)
        if all(s in TERMINAL for s in after.values()):
            return Decision(result=_failed(plan, progress, failed, after))
        return Decision()

    if failed:
        if all(s in TERMINAL for s in states.values()):
            return Decision(result=_failed(plan, progress, failed, states))
        return Decision()

    if all(s == FINISHED for s in states.values()):
        count = len(plan.hosts)
        noun = "host" if count == 1 else "hosts"
        return Decision(
            result=RolloutResult("completed", f"completed on all {count} {noun}", hosts=states)
        )

    if all(s in (HEALTHY, FINISHED) for s in states.values()):
        go: dict[str, Verdict] = {
            h: "continue" for h in plan.hosts if states[h] == HEALTHY and not progress[h].verdict
        }
        return Decision(verdicts=go)

    for batch in plan.batches:
        if all(states[h] == QUEUED for h in batch):
            return Decision(release=batch)
        if not all(states[h] in (HEALTHY, FINISHED) for h in batch):
            # This batch is under way (or partly released, after a crash): release the rest.
            rest = tuple(h for h in batch if states[h] == QUEUED)
            return Decision(release=rest)
    return Decision()


def _failed(
    plan: RolloutPlan,
    progress: Mapping[str, HostProgress],
    failed: tuple[str, ...],
    states: Mapping[str, HostState],
) -> RolloutResult:
    first = progress[failed[0]]
    why = first.error or "its run failed"
    if first.failed_step:
        why = f"{first.failed_step} failed: {why}"
    others = f" (and {', '.join(failed[1:])})" if len(failed) > 1 else ""
    reverted = [h for h in plan.hosts if states[h] == REVERTED]
    skipped = [h for h in plan.hosts if states[h] == SKIPPED]
    tail = ""
    if reverted:
        tail += f"; switched back: {', '.join(reverted)}"
    if skipped:
        tail += f"; not started: {', '.join(skipped)}"
    return RolloutResult(
        "failed",
        f"failed on {failed[0]}{others}: {why}{tail}",
        failed_hosts=failed,
        hosts=dict(states),
    )


def describe_hosts(versions: Mapping[str, str | None]) -> str:
    """What runs on a group of hosts, in words: ``2.0.0 on 2 of 3 hosts; 1.0.0 on web-3``.

    ``versions`` maps each host to the version it serves (None: nothing).  The most
    common version comes first with a count; the others name their hosts (or give a
    count when more than three share one).
    """
    total = len(versions)
    if total == 0:
        return "no hosts"
    groups: dict[str | None, list[str]] = {}
    for host, version in versions.items():
        groups.setdefault(version, []).append(host)
    ordered = sorted(groups.items(), key=lambda item: -len(item[1]))  # stable: first seen first
    if len(ordered) == 1:
        version, hosts = ordered[0]
        what = version or "nothing"
        return f"{what} on {hosts[0]}" if total == 1 else f"{what} on all {total} hosts"
    parts = []
    for index, (version, hosts) in enumerate(ordered):
        what = version or "nothing"
        if index == 0 or len(hosts) > 3:
            parts.append(f"{what} on {len(hosts)} of {total} hosts")
        else:
            parts.append(f"{what} on {', '.join(hosts)}")
    return "; ".join(parts)
