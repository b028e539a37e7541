"""The rollout of one run across a group of hosts: batches, the state machine, the matrix words."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest

from shipmate.domain.fleet.rollout import (
    FAILED,
    FAILED_BEFORE_SWITCH,
    FINISHED,
    HEALTHY,
    QUEUED,
    REVERTED,
    RUNNING,
    SKIPPED,
    SWITCHED,
    SWITCHED_BACK,
    TERMINAL,
    Decision,
    HostProgress,
    HostState,
    RolloutPlan,
    Strategy,
    batch_hosts,
    batches,
    decide,
    describe_hosts,
)

H3 = ("web-1", "web-2", "web-3")

# -- batches ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("batch", "hosts", "size"),
    [
        (1, 3, 1),
        (2, 3, 2),
        (5, 3, 3),  # more than there are: all of them
        ("34%", 3, 2),  # 1.02 hosts, rounded up
        ("33%", 3, 1),  # 0.99 hosts, rounded up
        ("1%", 3, 1),  # at least one host
        ("100%", 3, 3),
        ("50%", 4, 2),
        ("7%", 100, 7),  # exactly 7: ceil(100 * 0.07) is 8 in floats
        ("14%", 50, 7),
        (0.07, 100, 7),
        (0.34, 3, 2),
        (" 25 % ", 8, 2),
        ("12.5%", 8, 1),
        (1, 0, 0),
        ("50%", 0, 0),
    ],
)
def test_batch_size_is_a_count_or_a_share_rounded_up(
    batch: int | float | str, hosts: int, size: int
) -> None:
    assert batch_hosts(batch, hosts) == size


@pytest.mark.parametrize("batch", [0, -1, "0%", "101%", "half", "%", "3", True, 0.0, 1.5])
def test_a_bad_batch_is_refused(batch: int | float | str) -> None:
    with pytest.raises(ValueError, match="batch"):
        batch_hosts(batch, 3)
    with pytest.raises(ValueError, match="batch"):
        batch_hosts(batch, 0)  # refused even when there is no host to count


def test_all_is_one_batch_and_rolling_goes_in_order() -> None:
    hosts = ("a", "b", "c", "d", "e")
    assert batches(hosts, "all") == [hosts]
    assert batches(hosts, "rolling") == [("a",), ("b",), ("c",), ("d",), ("e",)]
    assert batches(hosts, "rolling", 2) == [("a", "b"), ("c", "d"), ("e",)]
    assert batches(hosts, "rolling", "40%") == [("a", "b"), ("c", "d"), ("e",)]
    assert batches((), "rolling") == [] and batches((), "all") == []
    with pytest.raises(ValueError, match="strategy"):
        batches(hosts, "canary")  # type: ignore[arg-type]


def test_every_host_is_in_exactly_one_batch() -> None:
    for count in range(1, 9):
        hosts = tuple(f"h{i}" for i in range(count))
        for batch in (1, 2, 3, "25%", "34%", "50%", "100%"):
            flat = [h for group in batches(hosts, "rolling", batch) for h in group]
            assert flat == list(hosts)


def test_a_plan_names_each_host_once() -> None:
    with pytest.raises(ValueError, match="twice"):
        RolloutPlan(("web-1", "web-1"))


# -- single decisions ---------------------------------------------------------------------


def _progress(**states: HostState) -> dict[str, HostProgress]:
    return {name.replace("_", "-"): HostProgress(state) for name, state in states.items()}


def test_the_first_batch_is_released_then_nothing_until_it_is_healthy() -> None:
    plan = RolloutPlan(H3, "rolling", 1)
    assert decide(plan, _progress(web_1=QUEUED, web_2=QUEUED, web_3=QUEUED)) == Decision(
        release=("web-1",)
    )
    for state in (RUNNING, SWITCHED):
        assert decide(plan, _progress(web_1=state, web_2=QUEUED, web_3=QUEUED)).waiting
    assert decide(plan, _progress(web_1=HEALTHY, web_2=QUEUED, web_3=QUEUED)) == Decision(
        release=("web-2",)
    )


def test_all_releases_every_host_at_once() -> None:
    plan = RolloutPlan(H3, "all")
    assert decide(plan, _progress(web_1=QUEUED, web_2=QUEUED, web_3=QUEUED)).release == H3


def test_a_partly_released_batch_is_completed_after_a_crash() -> None:
    plan = RolloutPlan(H3, "all")
    decision = decide(plan, _progress(web_1=RUNNING, web_2=QUEUED, web_3=QUEUED))
    assert decision.release == ("web-2", "web-3")


def test_continue_only_once_every_host_is_healthy() -> None:
    plan = RolloutPlan(H3, "all")
    assert decide(plan, _progress(web_1=HEALTHY, web_2=HEALTHY, web_3=SWITCHED)).waiting
    decision = decide(plan, _progress(web_1=HEALTHY, web_2=HEALTHY, web_3=HEALTHY))
    assert decision.verdicts == {h: "continue" for h in H3}
    given = {h: HostProgress(HEALTHY, verdict="continue") for h in H3}
    assert decide(plan, given).waiting  # told already: wait for them to finish


def test_deciding_twice_gives_the_same_decision() -> None:
    plan = RolloutPlan(H3, "rolling", 1)
    progress = _progress(web_1=FAILED_BEFORE_SWITCH, web_2=QUEUED, web_3=QUEUED)
    assert decide(plan, progress) == decide(plan, progress)


def test_a_failure_skips_the_hosts_not_started_and_reverts_the_switched_ones() -> None:
    plan = RolloutPlan(H3, "rolling", "67%")  # web-1, web-2 then web-3
    progress = {
        "web-1": HostProgress(HEALTHY),
        "web-2": HostProgress(FAILED_BEFORE_SWITCH, failed_step="health", error="HTTP 500"),
        "web-3": HostProgress(QUEUED),
    }
    decision = decide(plan, progress)
    assert decision.skip == ("web-3",)
    assert decision.verdicts == {"web-1": "revert"}
    assert decision.result is None
    progress["web-3"] = HostProgress(SKIPPED)
    progress["web-1"] = HostProgress(HEALTHY, verdict="revert")
    assert decide(plan, progress).waiting  # web-1 is switching back
    progress["web-1"] = HostProgress(REVERTED, verdict="revert")
    result = decide(plan, progress).result
    assert result is not None and result.status == "failed"
    assert result.failed_hosts == ("web-2",)
    assert result.message == (
        "failed on web-2: health failed: HTTP 500; switched back: web-1; not started: web-3"
    )
    assert result.hosts == {"web-1": REVERTED, "web-2": FAILED_BEFORE_SWITCH, "web-3": SKIPPED}


def test_a_host_still_running_when_another_fails_is_waited_for_then_reverted() -> None:
    plan = RolloutPlan(H3, "all")
    progress = {
        "web-1": HostProgress(SWITCHED_BACK, failed_step="post_switch_health", error="502"),
        "web-2": HostProgress(RUNNING),
        "web-3": HostProgress(SWITCHED),
    }
    assert decide(plan, progress).waiting
    progress["web-2"] = HostProgress(HEALTHY)
    assert decide(plan, progress).verdicts == {"web-2": "revert"}


def test_a_failure_after_continue_reverts_nothing() -> None:
    plan = RolloutPlan(H3, "all")
    progress = {
        "web-1": HostProgress(FINISHED, verdict="continue"),
        "web-2": HostProgress(
            SWITCHED_BACK, verdict="continue", failed_step="keep_warm", error="down"
        ),
        "web-3": HostProgress(HEALTHY, verdict="continue"),
    }
    assert decide(plan, progress).waiting
    progress["web-3"] = HostProgress(FINISHED, verdict="continue")
    result = decide(plan, progress).result
    assert result is not None and result.status == "failed"
    assert result.failed_hosts == ("web-2",)
    assert result.hosts["web-1"] == FINISHED and result.hosts["web-3"] == FINISHED


def test_completed_when_every_host_finished() -> None:
    plan = RolloutPlan(("web-1",), "rolling")
    result = decide(plan, {"web-1": HostProgress(FINISHED, verdict="continue")}).result
    assert result is not None and result.status == "completed"
    assert result.message == "completed on all 1 host" and result.failed_hosts == ()


def test_progress_must_match_the_plan() -> None:
    with pytest.raises(ValueError, match="missing"):
        decide(RolloutPlan(H3), _progress(web_1=QUEUED))


# -- every run of a simulated fleet -------------------------------------------------------

#: What a host does once released: succeed, fail before its switch, fail after it
#: (its own run switches back), fail with traffic stuck, or fail after continuing.
OUTCOMES = ("ok", "before", "after", "stuck", "late")


@dataclass
class World:
    plan: RolloutPlan
    outcomes: dict[str, str]
    progress: dict[str, HostProgress] = field(default_factory=dict)
    released: list[tuple[str, ...]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def set(self, host: str, state: HostState, **kw: object) -> None:
        old = self.progress[host]
        self.progress[host] = HostProgress(state, verdict=old.verdict, **kw)  # type: ignore[arg-type]

    def apply(self, decision: Decision) -> None:
        for host in decision.release:
            if self.progress[host].state != QUEUED:
                self.violations.append(f"{host} released twice")
            for earlier in self.plan.hosts[: self.plan.hosts.index(host)]:
                batch_of = next(b for b in self.plan.batches if earlier in b)
                if host not in batch_of and self.progress[earlier].state not in (HEALTHY, FINISHED):
                    self.violations.append(f"{host} released before {earlier} was healthy")
            self.set(host, RUNNING)
        if decision.release:
            self.released.append(decision.release)
        for host in decision.skip:
            self.set(host, SKIPPED)
        for host, verdict in decision.verdicts.items():
            if self.progress[host].state != HEALTHY:
                self.violations.append(f"verdict for {host} in {self.progress[host].state}")
            old = self.progress[host]
            self.progress[host] = HostProgress(old.state, verdict=verdict)

    def step(self, host: str) -> None:
        """``host`` moves on by one report."""
        p = self.progress[host]
        outcome = self.outcomes[host]
        if p.state == RUNNING:
            if outcome == "before":
                self.set(host, FAILED_BEFORE_SWITCH, failed_step="health", error="HTTP 500")
            else:
                self.set(host, SWITCHED)
        elif p.state == SWITCHED:
            if outcome == "after":
                self.set(host, SWITCHED_BACK, failed_step="post_switch_health", error="502")
            elif outcome == "stuck":
                self.set(host, FAILED, failed_step="post_switch_health", error="restore failed")
            else:
                self.set(host, HEALTHY)
        elif p.state == HEALTHY and p.verdict == "revert":
            self.set(host, REVERTED)
        elif p.state == HEALTHY and p.verdict == "continue":
            if outcome == "late":
                self.set(host, SWITCHED_BACK, failed_step="keep_warm", error="down")
            else:
                self.set(host, FINISHED)

    def movable(self) -> list[str]:
        return [
            h
            for h in self.plan.hosts
            if self.progress[h].state in (RUNNING, SWITCHED)
            or (self.progress[h].state == HEALTHY and self.progress[h].verdict is not None)
        ]


def _run(plan: RolloutPlan, outcomes: dict[str, str], pick: int) -> World:
    """Run the rollout to its end; ``pick`` chooses which movable host reports next."""
    world = World(plan, outcomes, {h: HostProgress(QUEUED) for h in plan.hosts})
    for _ in range(200):
        decision = decide(plan, world.progress)
        if decision.result is not None:
            return world
        world.apply(decision)
        if decision.waiting:
            movable = world.movable()
            assert movable, ("stuck: waiting with nothing moving", world.progress)
            world.step(movable[pick % len(movable)])
    raise AssertionError("the rollout never ended")


_PLANS: list[tuple[Strategy, int | str]] = [("all", 1), ("rolling", 1), ("rolling", 2)]


@pytest.mark.parametrize(("strategy", "batch"), _PLANS)
def test_every_combination_of_outcomes_ends_as_the_rules_say(
    strategy: Strategy, batch: int | str
) -> None:
    plan = RolloutPlan(H3, strategy, batch)
    for combo in itertools.product(OUTCOMES, repeat=3):
        outcomes = dict(zip(H3, combo, strict=True))
        for pick in range(3):
            world = _run(plan, outcomes, pick)
            result = decide(plan, world.progress).result
            assert result is not None
            assert world.violations == [], (combo, world.violations)
            states = dict(result.hosts)
            assert all(s in TERMINAL for s in states.values())
            released = {h for group in world.released for h in group}
            # Hosts never released are exactly the skipped ones.
            assert {h for h, s in states.items() if s == SKIPPED} == set(H3) - released
            early = [h for h in H3 if outcomes[h] in ("before", "after", "stuck") and h in released]
            if not early and all(o in ("ok", "late") for o in combo):
                # Nobody failed before continue: every host got the verdict continue.
                assert all(world.progress[h].verdict == "continue" for h in H3)
                assert SKIPPED not in states.values() and REVERTED not in states.values()
            if all(o == "ok" for o in combo):
                assert result.status == "completed"
                assert states == {h: FINISHED for h in H3}
                continue
            assert result.status == "failed", (combo, states)
            assert result.failed_hosts, combo
            assert result.message.startswith(f"failed on {result.failed_hosts[0]}")
            for host in result.failed_hosts:
                assert states[host] in (FAILED_BEFORE_SWITCH, SWITCHED_BACK, FAILED)
            if early:
                # Stopped before continue: nothing finished, nobody continued, every
                # host that switched and stayed healthy was switched back.
                assert FINISHED not in states.values(), (combo, states)
                assert all(world.progress[h].verdict != "continue" for h in H3)
                for host, state in states.items():
                    if outcomes[host] in ("ok", "late") and host in released:
                        assert state == REVERTED, (combo, host, state)


def test_rolling_one_by_one_never_touches_the_hosts_after_a_failure() -> None:
    plan = RolloutPlan(H3, "rolling", 1)
    world = _run(plan, {"web-1": "ok", "web-2": "before", "web-3": "ok"}, 0)
    assert world.released == [("web-1",), ("web-2",)]
    result = decide(plan, world.progress).result
    assert result is not None
    assert result.hosts == {"web-1": REVERTED, "web-2": FAILED_BEFORE_SWITCH, "web-3": SKIPPED}


# -- the matrix's words -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("versions", "words"),
    [
        ({}, "no hosts"),
        ({"web-1": "2.0.0"}, "2.0.0 on web-1"),
        ({"web-1": None}, "nothing on web-1"),
        ({"web-1": "2.0.0", "web-2": "2.0.0", "web-3": "2.0.0"}, "2.0.0 on all 3 hosts"),
        (
            {"web-1": "2.0.0", "web-2": "2.0.0", "web-3": "1.0.0"},
            "2.0.0 on 2 of 3 hosts; 1.0.0 on web-3",
        ),
        (
            {"web-1": "1.0.0", "web-2": "2.0.0", "web-3": "2.0.0"},
            "2.0.0 on 2 of 3 hosts; 1.0.0 on web-1",
        ),
        ({"a": "1", "b": "2"}, "1 on 1 of 2 hosts; 2 on b"),
        ({"a": "2", "b": None, "c": "2"}, "2 on 2 of 3 hosts; nothing on b"),
        (
            {f"h{i}": ("2" if i < 5 else "1") for i in range(9)},
            "2 on 5 of 9 hosts; 1 on 4 of 9 hosts",
        ),
    ],
)
def test_describe_hosts(versions: dict[str, str | None], words: str) -> None:
    assert describe_hosts(versions) == words
