"""The agent's side of the protocol: an HTTP client and the :class:`HttpRunBackend`.

:class:`AgentClient` sends one JSON request to the server's agent routes with the
agent key.  A call that gets no answer (connection refused or broken, a timeout)
or a 5xx is retried with backoff until ``give_up_at`` (for a run: as long as its
lease could still be valid), so a server restart mid-run loses nothing; every
write is idempotent on the server (see :mod:`shipmate.services.agents.reports`),
so a retry never writes twice.  A 4xx is an answer: it becomes the error the
server named (a 409 ``lease_lost`` stops the driver like a local fence).

:class:`HttpRunBackend` is the :class:`~shipmate.services.runs.backend.RunBackend`
a run driven by an agent uses; it has no database (``ctx`` is None), so steps
that need one fail with a clear ConfigError.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from shipmate import errors
from shipmate.domain.inputs.fields import read_iso_time
from shipmate.domain.records import DeploymentRecord
from shipmate.domain.requests import RecordRequest
from shipmate.domain.runs.model import FlowEnd, Step, StepResult
from shipmate.services.context import Context
from shipmate.services.runs.journal import LEASE_SECONDS
from shipmate.services.runs.records import RunRecord, RunStepRecord

__all__ = [
    "AgentClient",
    "HttpRunBackend",
    "ServerUnreachable",
    "deployment_from_dict",
    "run_from_dict",
]


class ServerUnreachable(errors.RemoteError):
    """The server did not answer (or answered 5xx) until the call gave up."""


def _time(value: object) -> datetime | None:
    if value is None:
        return None
    found = read_iso_time(str(value))
    if found is not None and found.tzinfo is None:
        found = found.replace(tzinfo=UTC)
    return found


def _id(value: object) -> int | None:
    return None if value is None else int(str(value))


def _step_from_dict(data: Mapping[str, Any]) -> RunStepRecord:
    return RunStepRecord(
        seq=int(data["seq"]),
        name=str(data["name"]),
        title=str(data.get("title") or ""),
        status=str(data["status"]),
        attempts=int(data.get("attempts") or 1),
        args=dict(data.get("args") or {}),
        result=dict(data["result"]) if data.get("result") is not None else None,
        output=data.get("output"),
        error=data.get("error"),
        started_at=_time(data.get("started_at")) or datetime.now(UTC),
        finished_at=_time(data.get("finished_at")),
        duration_ms=data.get("duration_ms"),
    )


def run_from_dict(data: Mapping[str, Any]) -> RunRecord:
    """A run as the claim route sends it (``RunRecord.to_dict`` with steps and params)."""
    now = datetime.now(UTC)
    return RunRecord(
        id=int(data["id"]),
        kind=str(data["kind"]),
        product=str(data["product"]),
        environment=str(data["environment"]),
        version=str(data["version"]),
        build_number=data.get("build_number"),
        full_version=str(data["full_version"]),
        status=str(data["status"]),
        owner=data.get("owner"),
        lease_until=_time(data.get("lease_until")),
        attempts=int(data.get("attempts") or 1),
        actor=data.get("actor"),
        deployment_id=_id(data.get("deployment_id")),
        reverts_id=_id(data.get("reverts_id")),
        rollback_deployment_id=_id(data.get("rollback_deployment_id")),
        params=dict(data.get("params") or {}),
        error=data.get("error"),
        error_code=data.get("error_code"),
        created_at=_time(data.get("created_at")) or now,
        updated_at=_time(data.get("updated_at")) or now,
        finished_at=_time(data.get("finished_at")),
        steps=tuple(_step_from_dict(s) for s in data.get("steps") or ()),
        agent_host=data.get("host"),
        parent_id=_id(data.get("parent_id")),
    )


_DEPLOYMENT_IDS = ("id", "product_id", "environment_id", "version_id", "reverts_id")


def deployment_from_dict(data: Mapping[str, Any]) -> DeploymentRecord:
    """A deployment as the API sends it (``DeploymentRecord.to_dict``)."""
    values: dict[str, Any] = {}
    for f in fields(DeploymentRecord):
        if f.name == "events" or f.name not in data:
            continue
        value = data[f.name]
        if f.name in _DEPLOYMENT_IDS:
            value = _id(value)
        elif f.name.endswith("_at") or f.name == "commit_time":
            value = _time(value)
        values[f.name] = value
    return DeploymentRecord(**values)


class AgentClient:
    """JSON requests to ``<url>/api/v1/agent/...`` with the agent key."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        on_unreachable: Callable[[str], None] | None = None,
    ) -> None:
        self.base = url.rstrip("/") + "/api/v1/agent"
        self.token = token
        self.timeout = timeout
        self.sleep = sleep
        self.on_unreachable = on_unreachable

    def _once(self, method: str, path: str, body: Any, timeout: float) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return int(answer.status), answer.read()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        give_up_at: float | None = None,
        timeout: float | None = None,
    ) -> Any:
        """The JSON answer (None for 204); retries what got no answer until ``give_up_at``
        (a ``time.monotonic()`` moment; None: try once)."""
        pause = 0.1
        told = False
        while True:
            try:
                status, payload = self._once(method, path, body, timeout or self.timeout)
            except (OSError, ValueError) as exc:  # refused, reset, timed out, bad answer
                status, payload, problem = 0, b"", f"{type(exc).__name__}: {exc}"
            else:
                problem = f"server answered {status}"
            if 0 < status < 500:
                if status == 204:
                    return None
                if status >= 400:
                    raise self._error(status, payload)
                return json.loads(payload) if payload else None
            if give_up_at is None or time.monotonic() + pause > give_up_at:
                raise ServerUnreachable(
                    f"the shipmate server at {self.base} did not answer: {problem}",
                    field="url",
                )
            if not told and self.on_unreachable is not None:
                told = True
                self.on_unreachable(problem)
            self.sleep(pause)
            pause = min(pause * 2, 2.0)

    @staticmethod
    def _error(status: int, payload: bytes) -> errors.ShipmateError:
        return errors.error_from_answer(
            status,
            payload,
            unauthorized="the server refused the agent key ({detail}); check SHIPMATE_TOKEN "
            "or --token-file",
        )


class HttpRunBackend:
    """A run's journal and records, on the server, through the agent routes."""

    ctx: Context | None = None

    def __init__(
        self, client: AgentClient, owner: str, *, lease_seconds: float = LEASE_SECONDS
    ) -> None:
        self.client = client
        #: The owner token of the claim (record and progress carry it).
        self.owner = owner
        self.lease_seconds = lease_seconds
        #: When the lease was last renewed (monotonic): retries stop once it may be gone.
        self.renewed = time.monotonic()

    def _give_up_at(self) -> float:
        return self.renewed + self.lease_seconds

    def _write(self, path: str, body: Mapping[str, Any]) -> Any:
        answer = self.client.call("POST", path, dict(body), give_up_at=self._give_up_at())
        self.renewed = time.monotonic()  # every fenced write renews the lease
        return answer

    def now(self) -> datetime:
        return datetime.now(UTC)

    def begin_step(
        self, run_id: int, owner: str, seq: int, step: Step, *, attempt: int = 1
    ) -> RunStepRecord:
        body = {
            "owner": owner,
            "name": step.name,
            "title": step.title,
            "args": dict(step.args),
            "attempt": attempt,
        }
        return _step_from_dict(self._write(f"/runs/{run_id}/steps/{seq}/begin", body))

    def finish_step(
        self,
        run_id: int,
        owner: str,
        seq: int,
        result: StepResult,
        *,
        duration_ms: int,
        run_updates: Mapping[str, Any] | None = None,
    ) -> None:
        body = {
            "owner": owner,
            "result": {**result.to_dict(), "output": result.output},
            "duration_ms": duration_ms,
            "run_updates": dict(run_updates) if run_updates else None,
        }
        self._write(f"/runs/{run_id}/steps/{seq}/finish", body)

    def finish_run(self, run_id: int, owner: str, end: FlowEnd) -> RunRecord:
        return run_from_dict(
            self._write(f"/runs/{run_id}/finish", {"owner": owner, "end": end.to_dict()})
        )

    def heartbeat(self, run_id: int, owner: str) -> bool:
        try:
            answer = self.client.call(
                "POST", f"/runs/{run_id}/heartbeat", {"owner": owner}, timeout=5.0
            )
        except ServerUnreachable:
            return True  # unknown: the next journal write decides
        alive = bool(answer and answer.get("alive"))
        if alive:
            self.renewed = time.monotonic()
        return alive

    def release_run(self, run_id: int, owner: str) -> None:
        self.client.call(
            "POST",
            f"/runs/{run_id}/release",
            {"owner": owner},
            give_up_at=time.monotonic() + 5.0,
        )

    def record_deployment(self, run_id: int, seq: int, request: RecordRequest) -> DeploymentRecord:
        fields_sent = {
            "status": request.status,
            "version": request.version,
            "build_number": request.build_number,
            "deployment_id": None if request.deployment_id is None else str(request.deployment_id),
            "kind": request.kind,
            "reverts_id": None if request.reverts_id is None else str(request.reverts_id),
            "commit_sha": request.commit_sha,
            "branch": request.branch,
            "repository": request.repository,
            "deployed_by": request.deployed_by,
            "ci_platform": request.ci_platform,
            "ci_run_id": request.ci_run_id,
            "ci_run_url": request.ci_run_url,
            "metadata": dict(request.metadata),
        }
        body = {"owner": self.owner, "seq": seq, "request": fields_sent}
        return deployment_from_dict(self._write(f"/runs/{run_id}/record", body))

    def current_deployment(
        self, run_id: int, product: str, environment: str
    ) -> tuple[int, str] | None:
        answer = self.client.call("GET", f"/runs/{run_id}/current", give_up_at=self._give_up_at())
        if not answer:
            return None
        return int(answer["deployment_id"]), str(answer["full_version"])

    def progress(self, run_id: int, seq: int, message: str) -> None:
        self.client.call(
            "POST",
            f"/runs/{run_id}/steps/{seq}/progress",
            {"owner": self.owner, "message": message},
            timeout=2.0,
        )

    def await_verdict(self, run_id: int, owner: str, wait: float) -> dict[str, Any]:
        """Long-poll ``POST .../await`` (its answer renews the lease like a write)."""
        answer = self.client.call(
            "POST",
            f"/runs/{run_id}/await",
            {"owner": owner, "wait": wait},
            timeout=wait + 10.0,
            give_up_at=self._give_up_at(),
        )
        self.renewed = time.monotonic()
        return dict(answer or {})
