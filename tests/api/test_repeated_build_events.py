"""A build finish event sent twice is one build (Versioner build events), and the
build numbers stay gapless around it."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shipmate.demo.clock import FakeClock
from shipmate.domain.requests import BuildRequest
from shipmate.services.context import Context
from shipmate.services.records.builds import record_build_event
from shipmate.store.schema import build_counters, builds, events
from tests.api.conftest import auth

BUILDS = "/versioner/build-events/"


def build(**changes: Any) -> dict[str, Any]:
    body = {
        "product_name": "my-service",
        "version": "1.2.3",
        "status": "started",
        "source_system": "github",
        "scm_sha": "abc123def456",
        "invoke_id": "4711",
        "built_by": "ci-bot",
        "build_number": "88",
        "extra_metadata": {"vi_gh_run_attempt": "1"},
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def counts(ctx: Context) -> tuple[int, int, int]:
    """(builds, build events in the log, the version's last allocated number)."""
    with ctx.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(builds)).scalar_one(),
            conn.execute(
                select(func.count()).select_from(events).where(events.c.type.like("build.%"))
            ).scalar_one(),
            conn.execute(
                select(func.coalesce(func.max(build_counters.c.last_build_number), 0))
            ).scalar_one(),
        )


def numbers(ctx: Context) -> list[int]:
    with ctx.read() as conn:
        return list(conn.execute(select(builds.c.build_number).order_by(builds.c.id)).scalars())


@pytest.mark.parametrize("finish", ["success", "failed", "cancelled"])
def test_build_finish_sent_twice_is_one_build(
    client: TestClient, tokens: dict[str, str], ctx: Context, clock: FakeClock, finish: str
) -> None:
    w = auth(tokens["write"])
    started = client.post(BUILDS, json=build(), headers=w)
    assert started.status_code == 201
    clock.advance(minutes=1)
    first = client.post(BUILDS, json=build(status=finish), headers=w)
    assert first.status_code == 201 and first.json()["id"] == started.json()["id"]
    before = counts(ctx)
    clock.advance(seconds=3)  # the CLI's retry comes a few seconds later
    again = client.post(BUILDS, json=build(status=finish), headers=w)
    assert again.status_code == 200  # a replay, as for deployments
    assert again.json() == first.json()
    assert counts(ctx) == before == (1, 2, 1)  # nothing written, no number burnt


def test_build_finish_without_start_sent_twice(
    client: TestClient, tokens: dict[str, str], ctx: Context, clock: FakeClock
) -> None:
    w = auth(tokens["write"])
    body = build(status="completed", completed_at="2026-11-22T10:00:00Z")
    first = client.post(BUILDS, json=body, headers=w)
    clock.advance(seconds=7)
    again = client.post(BUILDS, json=body, headers=w)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert counts(ctx) == (1, 1, 1)
    # The old name of build events is the same endpoint.
    alias = client.post("/versioner/version-events/", json=body, headers=w)
    assert (alias.status_code, alias.json()) == (200, first.json())


def test_build_finish_without_run_id_sent_twice(
    client: TestClient, tokens: dict[str, str], ctx: Context
) -> None:
    w = auth(tokens["write"])
    body = build(status="completed", invoke_id=None)
    first = client.post(BUILDS, json=body, headers=w)
    again = client.post(BUILDS, json=body, headers=w)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json() and counts(ctx) == (1, 1, 1)


def test_new_build_attempts_get_new_gapless_numbers(
    client: TestClient, tokens: dict[str, str], ctx: Context, clock: FakeClock
) -> None:
    w = auth(tokens["write"])
    one = client.post(BUILDS, json=build(status="failed"), headers=w).json()
    # A CI re-run sends started again: a new build, finished on its own.
    rerun = client.post(BUILDS, json=build(), headers=w)
    assert rerun.status_code == 201 and rerun.json()["id"] != one["id"]
    done = client.post(BUILDS, json=build(status="failed"), headers=w)
    assert (done.status_code, done.json()["id"]) == (201, rerun.json()["id"])
    # Another run is another build, even with the same version, commit and status.
    other = client.post(BUILDS, json=build(status="failed", invoke_id="4712"), headers=w)
    assert other.status_code == 201 and other.json()["id"] not in (one["id"], rerun.json()["id"])
    # A finish that states another time is not a retry of the first.
    later = client.post(
        BUILDS,
        json=build(status="failed", invoke_id="4712", completed_at="2026-11-22T09:30:00Z"),
        headers=w,
    )
    assert later.status_code == 201
    # The same finish long after is a new build: retries stop within minutes.
    clock.advance(minutes=11)
    late = client.post(BUILDS, json=build(status="failed", invoke_id="4712"), headers=w)
    assert late.status_code == 201
    assert numbers(ctx) == [1, 2, 3, 4, 5]
    assert [int(b["build_number"]) for b in (one, rerun.json(), other.json())] == [1, 2, 3]


def test_finish_of_a_run_repeats_its_own_build_not_a_newer_one(
    client: TestClient, tokens: dict[str, str], ctx: Context, clock: FakeClock
) -> None:
    """Run A's retry arrives after run B recorded a build of the same version."""
    w = auth(tokens["write"])
    a = client.post(BUILDS, json=build(status="completed"), headers=w).json()
    b = client.post(BUILDS, json=build(status="completed", invoke_id="4712"), headers=w).json()
    clock.advance(seconds=3)
    again = client.post(BUILDS, json=build(status="completed"), headers=w)
    assert (again.status_code, again.json()) == (200, a)
    assert b["id"] != a["id"] and numbers(ctx) == [1, 2]


def test_pending_build_finished_with_its_start_time_then_retried(
    client: TestClient, tokens: dict[str, str], ctx: Context
) -> None:
    """A ``pending`` build (no start time) finished by an event that states when it
    started: the start is recorded, so the retry of that event is recognised."""
    w = auth(tokens["write"])
    client.post(BUILDS, json=build(status="queued"), headers=w)
    body = build(status="built", started_at="2026-11-22T09:58:00Z")
    first = client.post(BUILDS, json=body, headers=w)
    assert first.status_code == 201 and first.json()["started_at"] == "2026-11-22T09:58:00.000Z"
    again = client.post(BUILDS, json=body, headers=w)
    assert (again.status_code, again.json()) == (200, first.json())
    assert numbers(ctx) == [1]


def test_copies_of_one_finish_arriving_together_are_one_build(ctx: Context) -> None:
    """A client whose first attempt timed out while shipmate was still working sends
    the retry while the first is in flight: both are answered with one build."""
    copies = 8
    # The version exists and its commit is pinned already: nothing but the version's
    # lock makes the copies wait for each other.
    record_build_event(
        ctx,
        BuildRequest("my-service", "1.2.3", status="failed", ci_run_id="4710", commit_sha="abc"),
    )
    barrier = threading.Barrier(copies)
    results: list[Any] = []
    lock = threading.Lock()

    def send() -> None:
        barrier.wait(timeout=60)
        try:
            got: Any = record_build_event(
                ctx,
                BuildRequest(
                    "my-service", "1.2.3", status="completed", ci_run_id="4711", commit_sha="abc"
                ),
            )
        except Exception as exc:  # reported below rather than lost in the thread
            got = exc
        with lock:
            results.append(got)

    threads = [threading.Thread(target=send) for _ in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert [r for r in results if isinstance(r, Exception)] == []
    assert len(results) == copies
    assert {r.build.id for r in results} == {results[0].build.id}
    assert sorted(r.replayed for r in results) == [False] + [True] * (copies - 1)
    assert numbers(ctx) == [1, 2]
