"""How the command line shows a run's progress: a step list on a terminal, plain lines in CI."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from shipmate.cli.runs.progress import PlainProgress, TerminalProgress, make_progress
from shipmate.domain.runs.plan import FlowEnd, Step, StepResult
from shipmate.services.runs.journal import RunRecord

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
RUN = RunRecord(
    id=7,
    kind="deploy",
    product="api",
    environment="production",
    version="2.0.0",
    build_number=None,
    full_version="2.0.0",
    status="running",
    owner=None,
    lease_until=None,
    attempts=1,
    actor="alice",
    deployment_id=None,
    reverts_id=None,
    rollback_deployment_id=None,
    params={},
    error=None,
    error_code=None,
    created_at=NOW,
    updated_at=NOW,
    finished_at=None,
)
HEALTH = Step("health", "health check 2.0.0 in slot green")


def _play(observer: PlainProgress | TerminalProgress) -> None:
    observer.run_started(RUN, resumed=False)
    observer.step_finished(1, Step("inspect", "read"), StepResult.success(), 0, replayed=True)
    observer.step_started(2, HEALTH, 1)
    observer.step_progress(2, HEALTH, "attempt 1/20: connection refused")
    observer.step_finished(
        2, HEALTH, StepResult.failure("HTTP 500", output="Traceback\nboom"), 1.5, replayed=False
    )
    observer.run_finished(RUN, FlowEnd("failed", "health failed"))


def test_plain_lines() -> None:
    out = io.StringIO()
    _play(PlainProgress(out))
    assert out.getvalue().splitlines() == [
        "Deploying api 2.0.0 in production (run 7)",
        "[1] read: done before, not repeated",
        "[2] health check 2.0.0 in slot green ...",
        "[2] health check 2.0.0 in slot green: FAILED: HTTP 500",
        "      Traceback",
        "      boom",
    ]


def test_terminal_step_list_rewrites_the_current_line() -> None:
    out = io.StringIO()
    _play(TerminalProgress(out))
    text = out.getvalue()
    assert "\r\033[K  … health check 2.0.0 in slot green" in text
    assert "attempt 1/20: connection refused" in text
    assert "✗ health check 2.0.0 in slot green: HTTP 500\n" in text
    assert "      boom\n" in text


def test_a_pipe_gets_plain_lines() -> None:
    assert isinstance(make_progress(io.StringIO()), PlainProgress)
