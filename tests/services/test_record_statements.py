"""Recording a status event sends the statements that do the work, and hands back the
deployment exactly as stored.

Counted with a ``before_cursor_execute`` listener on a context that has recorded
before (its product, environment and version ids are remembered), on both backends.
The catalog mark a process re-reads at most every half second is left out of the
count (when it is read depends on the clock).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import event

from shipmate.demo.clock import FakeClock
from shipmate.domain.records import DeploymentRecord
from shipmate.domain.requests import RecordRequest
from shipmate.services.context import Context
from shipmate.services.queries import current_matrix, show_deployment
from shipmate.services.records.deployments import record_deployment


class Statements:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, _c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if "max(events.id)" not in statement:  # the catalog mark
            self.sent.append(statement)

    def during(self, fn: Any) -> list[str]:
        start = len(self.sent)
        fn()
        return self.sent[start:]


@pytest.fixture
def statements(ctx: Context) -> Iterator[Statements]:
    seen = Statements()
    event.listen(ctx.engine, "before_cursor_execute", seen)
    yield seen
    event.remove(ctx.engine, "before_cursor_execute", seen)


def rec(ctx: Context, status: str, run: str, **kw: Any) -> DeploymentRecord:
    fields: dict[str, Any] = {
        "environment": "production",
        "product": "api",
        "version": "1.0.0",
        "commit_sha": "a" * 40,
        "metadata": {"pipeline": "ci"},
        **kw,
    }
    return record_deployment(ctx, RecordRequest(status=status, ci_run_id=run, **fields))


def _warm(ctx: Context) -> None:
    rec(ctx, "completed", "warm-1")
    rec(ctx, "completed", "warm-2")


def _as_stored(ctx: Context, record: DeploymentRecord) -> None:
    assert record == replace(show_deployment(ctx, record.id), events=())


def test_a_lone_completion_sends_only_its_lookups_and_writes(
    ctx: Context, statements: Statements, clock: FakeClock
) -> None:
    _warm(ctx)
    clock.advance(seconds=5)
    sent = statements.during(lambda: rec(ctx, "completed", "r1"))
    postgres = ctx.engine.dialect.name == "postgresql"
    # The open-deployment lookup, the repeat check, the build lookup, then the writes:
    # on PostgreSQL the lock, and the insert + event + current-state move in one
    # statement; on SQLite three statements.
    assert len(sent) == (5 if postgres else 6), sent
    assert not any(s.lstrip().upper().startswith("SELECT PRODUCTS") for s in sent)


def test_advancing_a_started_deployment_sends_only_its_lookup_and_writes(
    ctx: Context, statements: Statements, clock: FakeClock
) -> None:
    _warm(ctx)
    rec(ctx, "started", "r2")
    clock.advance(seconds=30)
    sent = statements.during(lambda: rec(ctx, "completed", "r2"))
    postgres = ctx.engine.dialect.name == "postgresql"
    assert len(sent) == (3 if postgres else 4), sent


def test_the_answer_is_the_deployment_as_stored(ctx: Context, clock: FakeClock) -> None:
    _warm(ctx)
    started = rec(ctx, "started", "r3", branch="main")
    _as_stored(ctx, started)
    clock.advance(seconds=30)
    done = rec(ctx, "completed", "r3", metadata={"extra": 1})
    assert done.id == started.id and done.duration_ms == 30_000
    assert done.metadata == {"pipeline": "ci", "extra": 1}
    _as_stored(ctx, done)
    lone = rec(ctx, "completed", "r4")
    _as_stored(ctx, lone)
    assert lone.environment_kind == "production"
    cell = current_matrix(ctx).cell("api", "production")
    assert cell is not None and cell.deployment_id == lone.id
