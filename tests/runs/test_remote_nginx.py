"""Remote runs on a real host: the server creates them from its configuration, the
in-process agent stand-in drives them with the engine parts rebuilt from the run's
params (its own state folder, as an agent does), the real process target starts the
sample app and the real nginx switch moves traffic."""

from __future__ import annotations

from typing import Any

from shipmate.services.deploys.config import RunParts, parts_from_params
from shipmate.services.runs.journal import RunRecord
from shipmate.services.runs.remote import RemoteRunRequest, create_remote_run
from tests.runs.remote_world import drive_as_agent, register_host, with_deploy_table
from tests.runs.stack import Stack


def _agent_parts(stack: Stack) -> Any:
    def parts(run: RunRecord) -> RunParts:
        stored = dict(run.params)
        stored["deploy"] = {**stored["deploy"], "state_dir": str(stack.data_dir / "deploy")}
        return parts_from_params(run.product, stored)

    return parts


def _run(stack: Stack, **request: Any) -> RunRecord:
    made = create_remote_run(
        stack.ctx, RemoteRunRequest(product="api", environment="production", **request)
    )
    assert made.run is not None and made.run.agent_host == "web-1"
    result = drive_as_agent(stack.ctx, made.run.id, _agent_parts(stack))
    assert result.end is not None, result.run
    return result.run


def test_remote_deploys_and_a_rollback_move_real_traffic(nginx_stack: Stack) -> None:
    stack = nginx_stack
    table = {**stack.table(keep_warm=0), "hosts": ["web-1"]}
    stack.ctx.settings = stack.settings(table)
    with_deploy_table(stack.ctx, table)
    register_host(stack.ctx, "web-1")
    first = _run(stack, kind="deploy", version="1.0.0")
    assert first.status == "completed", first.error
    stack.wait_served("1.0.0")
    second = _run(stack, kind="deploy", version="2.0.0")
    assert second.status == "completed", second.error
    stack.wait_served("2.0.0")
    back = _run(stack, kind="rollback")
    assert (back.kind, back.status, back.full_version) == ("rollback", "completed", "1.0.0")
    stack.wait_served("1.0.0")
    assert stack.records() == [
        ("1.0.0", "completed", "deploy"),
        ("2.0.0", "rolled_back", "deploy"),
        ("1.0.0", "completed", "rollback"),
    ]
