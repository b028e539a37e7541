"""On an agent the engine has no database: a step that needs one says so."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from shipmate.domain.runs.model import RunPlan, Step
from shipmate.errors import ConfigError
from shipmate.services.agents.client import AgentClient, HttpRunBackend
from shipmate.services.runs.observer import RunObserver
from shipmate.services.runs.records import RunRecord
from shipmate.services.runs.stepenv import StepEnv


def test_env_ctx_on_an_agent_is_a_config_error_naming_the_step() -> None:
    now = datetime.now(UTC)
    run = RunRecord(
        1, "deploy", "api", "prod", "1.0.0", None, "1.0.0", "running", None, None, 1, None,
        None, None, None, {}, None, None, now, now, None,
    )  # fmt: skip
    plan = RunPlan("deploy", "api", "prod", "1.0.0", "1.0.0", ("blue", "green"))
    env = StepEnv(
        backend=HttpRunBackend(AgentClient("http://127.0.0.1:9", "t"), "owner"),
        run=run,
        plan=plan,
        parts_provider=lambda: None,  # type: ignore[arg-type, return-value]
        observer=RunObserver(),
        seq=3,
        step=Step("release_action", "a release action"),
        attempt=1,
        first_started_at=now,
        wake=threading.Event(),
    )
    with pytest.raises(ConfigError, match="'release_action' runs only in local mode"):
        _ = env.ctx
