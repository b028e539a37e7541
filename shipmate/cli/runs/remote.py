"""``deploy``, ``rollback``, ``runs`` and ``hosts`` in remote mode (``SHIPMATE_URL``).

The server validates the request (gates included) and creates a run for the agent
of the environment's host; this module then follows the run
(``GET /api/v1/runs/{id}/follow``, a long poll) and replays what it learns as the
events a local run's observer gets (step started, progress, step finished, run
finished), so the same progress classes (:mod:`shipmate.cli.runs.progress`) render
it, and the command exits with the error (and exit code) a local run ending the
same way raises.

Only the standard library and the domain are imported here: remote mode never
loads SQLAlchemy.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO, cast

from shipmate import errors
from shipmate.cli import render
from shipmate.cli.backends.remote import RemoteBackend, deployment_record
from shipmate.config import Settings
from shipmate.domain.inputs.fields import parse_time
from shipmate.domain.records import DeploymentRecord
from shipmate.domain.runs.plan import FlowEnd, Step, StepResult
from shipmate.services.runs.observer import RunObserver

__all__ = [
    "FOLLOW_WAIT_SECONDS",
    "RemoteRun",
    "RunFollower",
    "create_and_follow",
    "remote_abort",
    "remote_hosts",
    "remote_runs",
    "remote_show",
]

#: How long one follow request waits on the server for something new.
FOLLOW_WAIT_SECONDS = 10.0


def _time(value: Any) -> datetime | None:
    return None if value is None else parse_time(str(value), field="time")


def _id(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class RemoteStep:
    seq: int
    name: str
    title: str
    status: str
    attempts: int
    args: dict[str, Any]
    result: dict[str, Any] | None
    output: str | None
    error: str | None
    duration_ms: int | None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RemoteStep:
        return cls(
            seq=int(d["seq"]),
            name=str(d["name"]),
            title=str(d.get("title") or d["name"]),
            status=str(d["status"]),
            attempts=int(d.get("attempts") or 1),
            args=dict(d.get("args") or {}),
            result=dict(d["result"]) if d.get("result") is not None else None,
            output=d.get("output"),
            error=d.get("error"),
            duration_ms=_id(d.get("duration_ms")),
        )

    @property
    def step(self) -> Step:
        return Step(self.name, self.title, self.args)

    @property
    def step_result(self) -> StepResult:
        if self.result is None:
            return StepResult.failure(self.error or "failed", output=self.output or "")
        return StepResult.from_dict(self.result, self.output or "")


def _shown_state(d: Mapping[str, Any]) -> str:
    """The server's state, with ``waiting`` for an agent's run no agent has taken yet."""
    if d.get("agent") and d.get("status") == "running" and d.get("owner") is None:
        return "waiting"
    return str(d.get("state") or d["status"])


@dataclass(frozen=True)
class RemoteRun:
    """A run as the API shows it, with the attributes the run renderers read."""

    id: int
    kind: str
    product: str
    environment: str
    full_version: str
    status: str
    shown_state: str
    owner: str | None
    attempts: int
    actor: str | None
    deployment_id: int | None
    reverts_id: int | None
    rollback_deployment_id: int | None
    error: str | None
    host: str | None
    attention: str | None
    attention_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    steps: tuple[RemoteStep, ...] = field(default=())

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RemoteRun:
        created = _time(d.get("created_at"))
        assert created is not None
        return cls(
            id=int(d["id"]),
            kind=str(d["kind"]),
            product=str(d["product"]),
            environment=str(d["environment"]),
            full_version=str(d["full_version"]),
            status=str(d["status"]),
            shown_state=_shown_state(d),
            owner=d.get("owner"),
            attempts=int(d.get("attempts") or 1),
            actor=d.get("actor"),
            deployment_id=_id(d.get("deployment_id")),
            reverts_id=_id(d.get("reverts_id")),
            rollback_deployment_id=_id(d.get("rollback_deployment_id")),
            error=d.get("error"),
            host=d.get("host"),
            attention=d.get("attention"),
            attention_at=_time(d.get("attention_at")),
            created_at=created,
            finished_at=_time(d.get("finished_at")),
            steps=tuple(RemoteStep.from_dict(s) for s in d.get("steps") or ()),
        )

    def state(self, now: datetime | None = None) -> str:
        """The state the server saw (``interrupted`` for a run nobody drives)."""
        return self.shown_state


def error_from(body: Mapping[str, Any]) -> errors.ShipmateError:
    """The exception class (and so the exit code) an error body names."""
    return errors.error_from_body(body)


class RunFollower:
    """Replays follow answers as observer events, each event once."""

    def __init__(self, observer: RunObserver, out: TextIO) -> None:
        self.observer = observer
        self.out = out
        self.started: dict[int, int] = {}
        self.finished: set[int] = set()
        self.after_line = 0
        self.token: str | None = None
        self.waiting_noted = False

    def feed(self, answer: Mapping[str, Any]) -> RemoteRun:
        run = RemoteRun.from_dict(answer["run"])
        self.token = answer.get("token")
        lines = list(answer.get("progress") or ())
        if run.owner is None and run.status == "running" and not self.waiting_noted:
            self.waiting_noted = True
            rollout = answer["run"].get("rollout") or {}
            if rollout.get("hosts"):
                hosts = ", ".join(str(h) for h in rollout["hosts"])
                self.out.write(f"  rolling out to {render.p(hosts)} ({rollout['strategy']}) ...\n")
            else:
                self.out.write(f"  waiting for the agent on {render.p(run.host or '?')} ...\n")
            self.out.flush()
        by_seq = {s.seq: s for s in run.steps}
        for s in run.steps:
            if s.seq not in self.started or s.attempts > self.started[s.seq]:
                if s.seq in self.started:
                    self.finished.discard(s.seq)
                self.started[s.seq] = s.attempts
                self.observer.step_started(s.seq, s.step, s.attempts)
            self._progress(lines, s.seq, by_seq)
            if s.status != "running" and s.seq not in self.finished:
                self.finished.add(s.seq)
                seconds = (s.duration_ms or 0) / 1000
                self.observer.step_finished(s.seq, s.step, s.step_result, seconds, replayed=False)
        for line in lines:
            self.after_line = max(self.after_line, int(line["number"]))
        return run

    def _progress(
        self, lines: list[Mapping[str, Any]], seq: int, by_seq: Mapping[int, RemoteStep]
    ) -> None:
        for line in lines:
            if int(line["seq"]) == seq and int(line["number"]) > self.after_line:
                step = by_seq[seq]
                if step.status == "running":
                    self.observer.step_progress(seq, step.step, str(line["message"]))


def _follow(
    api: RemoteBackend, run: RemoteRun, follower: RunFollower
) -> tuple[RemoteRun, Mapping[str, Any]]:
    """Follow ``run`` to its end; the last answer's run and outcome."""
    while True:
        query = {"after_line": str(follower.after_line), "wait": str(FOLLOW_WAIT_SECONDS)}
        if follower.token is not None:
            query["seen"] = follower.token
        answer = api.api(
            "GET", f"/api/v1/runs/{run.id}/follow", query=query, timeout=FOLLOW_WAIT_SECONDS + 15
        )
        run = follower.feed(answer)
        if answer.get("done"):
            return run, answer.get("outcome") or {}


def create_and_follow(
    args: argparse.Namespace,
    settings: Settings,
    body: dict[str, Any],
    observer: RunObserver,
    out: TextIO,
) -> int:
    """POST the run, follow it, report it like a local run (exit code included)."""
    api = RemoteBackend(settings)
    created = api.api("POST", "/api/v1/runs", body=body, write=True)
    run = RemoteRun.from_dict(created["run"])
    observer.run_started(cast(Any, run), resumed=False)
    follower = RunFollower(observer, out)
    follower.feed({"run": created["run"], "progress": []})
    try:
        run, outcome = _follow(api, run, follower)
    except KeyboardInterrupt:
        out.write(
            f"\nstopped following run {run.id}; it goes on on {run.host}: "
            f"shipmate runs show {run.id}\n"
        )
        raise
    end_data = outcome.get("end")
    end = FlowEnd(**end_data) if isinstance(end_data, Mapping) else None
    observer.run_finished(cast(Any, run), end)
    error = outcome.get("error")
    if args.json:
        final = api.api("GET", f"/api/v1/runs/{run.id}")
        final["outcome"] = end_data
        render.print_json(final)
    elif error is None and end is not None:
        verb = "rolled back to" if run.kind == "rollback" else "deployed"
        print(
            render.colour(
                f"{verb} {render.p(run.product)} {render.p(run.full_version)} in "
                f"{render.p(run.environment)} on {render.p(run.host or '-')}: "
                f"{render.p(end.message)} (run {run.id}, deployment {end.deployment_id})",
                "32",
            )
        )
    if isinstance(error, Mapping):
        raise error_from(error)
    return 0


def rollback_preview(settings: Settings, body: dict[str, Any]) -> dict[str, Any]:
    """The server's dry run of a rollback: hosts, plan, the choice (current, target)."""
    answer: dict[str, Any] = RemoteBackend(settings).api(
        "POST", "/api/v1/runs", body=body | {"dry_run": True}
    )
    return answer


@dataclass(frozen=True)
class RemoteChoice:
    """The rollback choice as the confirmation shows it (like a local RollbackChoice)."""

    current: DeploymentRecord
    target: DeploymentRecord
    recent: tuple[DeploymentRecord, ...]
    reason: str

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RemoteChoice:
        return cls(
            current=deployment_record(dict(d["current"])),
            target=deployment_record(dict(d["target"])),
            recent=tuple(deployment_record(dict(r)) for r in d.get("recent") or ()),
            reason=str(d.get("reason") or ""),
        )


def remote_runs(settings: Settings, query: dict[str, str]) -> list[RemoteRun]:
    items = RemoteBackend(settings).api("GET", "/api/v1/runs", query=query)["items"]
    return [RemoteRun.from_dict(item) for item in items]


def remote_show(settings: Settings, run_id: int) -> tuple[RemoteRun, dict[str, Any]]:
    body: dict[str, Any] = RemoteBackend(settings).api("GET", f"/api/v1/runs/{run_id}")
    return RemoteRun.from_dict(body), body


def remote_abort(settings: Settings, run_id: int) -> tuple[RemoteRun, dict[str, Any]]:
    body: dict[str, Any] = RemoteBackend(settings).api(
        "POST", f"/api/v1/runs/{run_id}/abort", body={}, write=True
    )
    return RemoteRun.from_dict(body), body


def remote_hosts(settings: Settings) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = RemoteBackend(settings).api("GET", "/api/v1/hosts")["items"]
    return items


def now() -> datetime:
    return datetime.now(UTC)
