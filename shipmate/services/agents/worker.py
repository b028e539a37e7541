"""The loop ``shipmate agent`` runs on a deploy host.

1. **hello**: register the host (name from the key, labels, version, instance id);
2. **claim** (a long poll of up to :data:`CLAIM_WAIT_SECONDS`): the server hands
   over the next run of this host, or nothing;
3. **drive** it with the same :class:`~shipmate.services.runs.driver.RunDriver` as
   local mode, through an :class:`~shipmate.services.agents.client.HttpRunBackend`,
   with the engine parts rebuilt from the run's stored deploy table (``state_dir``
   replaced by ``<data dir>/deploy``, the agent's own);
4. **report** what runs in each slot of the run's product (``/state``), and claim
   again.

The server down: the agent logs one line, retries with backoff (up to
:data:`MAX_BACKOFF_SECONDS`) and logs one line when it is back; inside a run every
write is retried as long as the lease could be valid (see the client).  A stop
(SIGTERM) ends the run at the next step boundary and releases it, so another
agent (or this one, restarted) resumes it at once.

The instance id lives in ``<data dir>/instance``: an agent restarted with the same
data dir is the same instance, and takes its own interrupted run back at once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from shipmate import __version__
from shipmate.errors import ConfigError, ConflictError, ShipmateError
from shipmate.services.agents.client import (
    AgentClient,
    HttpRunBackend,
    ServerUnreachable,
    run_from_dict,
)
from shipmate.services.deploys.config import RunParts, build_parts, product_deploy_from_params
from shipmate.services.runs.driver import CrashPoint, DriveResult, RunDriver
from shipmate.services.runs.observer import RunObserver
from shipmate.services.runs.records import RunRecord

__all__ = ["AgentOptions", "AgentWorker", "instance_id"]

CLAIM_WAIT_SECONDS = 20.0
MAX_BACKOFF_SECONDS = 10.0

log = logging.getLogger("shipmate.agent")


def instance_id(data_dir: Path) -> str:
    """This agent's persistent instance id (created on first use)."""
    path = data_dir / "instance"
    try:
        text = path.read_text().strip()
        return str(uuid.UUID(text))
    except (OSError, ValueError):
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    value = str(uuid.uuid4())
    tmp = path.with_suffix(".tmp")
    tmp.write_text(value + "\n")
    tmp.replace(path)
    return value


@dataclass
class AgentOptions:
    url: str
    token: str
    data_dir: Path
    labels: dict[str, str] = field(default_factory=dict)
    once: bool = False
    claim_wait: float = CLAIM_WAIT_SECONDS
    crash: CrashPoint | None = None


class AgentWorker:
    """``run()`` until stopped (or, with ``once``, after at most one run)."""

    def __init__(
        self,
        options: AgentOptions,
        *,
        stop: threading.Event | None = None,
        observer: RunObserver | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.options = options
        self.stop = stop or threading.Event()
        self.observer = observer
        self.sleep = sleep or self._sleep
        self.instance = instance_id(options.data_dir)
        self.client = AgentClient(options.url, options.token, sleep=self.sleep)
        self.host: str | None = None
        self.lease_seconds = 30.0
        self._down_since: float | None = None

    def _sleep(self, seconds: float) -> None:
        self.stop.wait(seconds)

    # -- server availability -----------------------------------------------------------

    def _unreachable(self, problem: str) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning("server %s unreachable (%s); retrying", self.options.url, problem)

    def _reachable(self) -> None:
        if self._down_since is not None:
            log.warning(
                "server %s reachable again after %.0fs",
                self.options.url,
                time.monotonic() - self._down_since,
            )
            self._down_since = None

    def _call(self, method: str, path: str, body: Any = None, *, timeout: float = 10.0) -> Any:
        """One call outside a run: wait (with backoff) until the server answers."""
        pause = 0.2
        while True:
            if self.stop.is_set():
                raise _Stopped
            try:
                answer = self.client.call(method, path, body, timeout=timeout)
            except ServerUnreachable as exc:
                self._unreachable(exc.message)
                self.sleep(pause)
                pause = min(pause * 2, MAX_BACKOFF_SECONDS)
                continue
            self._reachable()
            return answer

    # -- the loop ----------------------------------------------------------------------

    def hello(self) -> str:
        answer = self._call(
            "POST",
            "/hello",
            {
                "labels": self.options.labels,
                "agent_version": __version__,
                "instance": self.instance,
            },
        )
        self.host = str(answer["host"])
        self.lease_seconds = float(answer.get("lease_seconds") or 30.0)
        log.info("agent for host %s (instance %s) connected", self.host, self.instance)
        return self.host

    def run(self) -> int:
        """The loop; returns how many runs it drove."""
        driven = 0
        try:
            if self.host is None:
                self.hello()
            while not self.stop.is_set():
                claimed = self.claim()
                if claimed is not None:
                    self.drive(*claimed)
                    driven += 1
                if self.options.once:
                    break
        except _Stopped:
            pass
        return driven

    def claim(self) -> tuple[RunRecord, str] | None:
        wait = 0.0 if self.options.once else self.options.claim_wait
        body = {"instance": self.instance, "wait": wait}
        answer = self._call("POST", "/claim", body, timeout=wait + 10.0)
        if not answer:
            return None
        return run_from_dict(answer["run"]), str(answer["owner"])

    def parts_for(self, run: RunRecord) -> RunParts:
        """The engine parts from the run's stored deploy table, in this agent's state dir."""
        deploy = product_deploy_from_params(run.product, run.params)
        state_dir = str((self.options.data_dir / "deploy").resolve())
        return build_parts(replace(deploy, state_dir=state_dir))

    def drive(self, run: RunRecord, owner: str) -> DriveResult | None:
        backend = HttpRunBackend(self.client, owner, lease_seconds=self.lease_seconds)
        self.client.on_unreachable = self._unreachable
        driver = RunDriver(
            None,
            run,
            owner=owner,
            parts_factory=self.parts_for,
            observer=self.observer,
            stop=self.stop,
            crash=self.options.crash,
            resumed=bool(run.steps),
            backend=backend,
        )
        log.info("run %s: %s of %s to %s", run.id, run.kind, run.full_version, run.environment)
        try:
            result = driver.drive()
        except ShipmateError as exc:
            self._give_back(backend, run, owner, exc)
            return None
        finally:
            self.client.on_unreachable = None
        self._reachable()
        status = result.run.status if result.end is not None else "stopped"
        log.info("run %s: %s", run.id, status)
        self.report_state(run)
        return result

    def _give_back(
        self, backend: HttpRunBackend, run: RunRecord, owner: str, exc: ShipmateError
    ) -> None:
        """The run could not go on (server gone past the lease, refused): release it."""
        log.warning("run %s stopped: %s", run.id, exc.message)
        if isinstance(exc, ConflictError) and exc.details.get("reason") == "lease_lost":
            return
        with contextlib.suppress(ShipmateError):  # else the lease runs out on its own
            backend.release_run(run.id, owner)

    def report_state(self, run: RunRecord) -> None:
        """Tell the server what runs in each slot of ``run``'s product on this host."""
        try:
            parts = self.parts_for(run)
            state = parts.switch.current()
            slots = {
                slot.name: parts.target.running_version(slot.name) for slot in parts.config.slots
            }
        except (ShipmateError, OSError, ConfigError) as exc:
            log.warning("could not read the slots of %s: %s", run.product, exc)
            return
        body = {
            "products": {
                run.product: {
                    run.environment: {
                        "slots": slots,
                        "live": state.to_dict() if state is not None else None,
                        "run_id": str(run.id),
                    }
                }
            }
        }
        try:
            self.client.call("POST", "/state", body, give_up_at=time.monotonic() + 5.0)
        except ShipmateError as exc:
            log.warning("could not report the host's state: %s", exc.message)


class _Stopped(Exception):
    """The agent was told to stop while it waited for the server."""
