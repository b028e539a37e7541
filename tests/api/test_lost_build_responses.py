"""A build finish event whose response is lost, retried the way the Versioner CLI
retries (``versioner track build``): a real ``shipmate serve`` behind the lossy
proxy of :mod:`tests.api.test_lost_responses`."""

from __future__ import annotations

import json

from sqlalchemy import select

from shipmate.store.engine import make_engine
from shipmate.store.schema import builds
from tests.api.test_lost_responses import LossyProxy, served, versioner_cli_post
from tests.support.server import ServerProcess

__all__ = ["served"]  # the fixture, imported for these tests

BUILD = {
    "product_name": "my-service",
    "version": "1.2.3",
    "source_system": "github",
    "scm_sha": "abc123def456",
    "invoke_id": "4711",
    "built_by": "ci-bot",
    "extra_metadata": {"vi_gh_run_attempt": "1"},
}
PATH = "/versioner/build-events/"


def _body(raw: bytes) -> object:
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


def stored_builds(url: str) -> list[tuple[int, str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            query = select(builds.c.build_number, builds.c.status).order_by(builds.c.id)
            return [(n, s) for n, s in conn.execute(query)]
    finally:
        engine.dispose()


def test_build_finish_retried_after_lost_response_is_one_build(
    served: tuple[ServerProcess, str, str], database_url: str
) -> None:
    server, write, _ = served
    with LossyProxy(upstream=server.port).serve() as proxy:
        status, started = versioner_cli_post(
            proxy.port, PATH, write, {**BUILD, "status": "building"}
        )
        assert status == 201 and started["build_number"] == "1"

        proxy.drop = 1  # shipmate commits the finish; its answer never arrives
        status, done = versioner_cli_post(proxy.port, PATH, write, {**BUILD, "status": "built"})
        assert proxy.forwarded == 3 and len(proxy.dropped) == 1  # the retry reached shipmate
        assert proxy.dropped[0].startswith(b"HTTP/1.1 201")
        assert status == 200  # a replay, not a new build
        assert done == _body(proxy.dropped[0])  # the answer the first attempt would have had
        assert done["id"] == started["id"] and done["status"] == "completed"

        # A CI re-run (same run id) sends building again: a new build, the next number.
        status, rerun = versioner_cli_post(proxy.port, PATH, write, {**BUILD, "status": "building"})
        assert status == 201 and rerun["build_number"] == "2"
        status, rerun_done = versioner_cli_post(
            proxy.port, PATH, write, {**BUILD, "status": "built"}
        )
        assert (status, rerun_done["id"]) == (201, rerun["id"])

    assert stored_builds(database_url) == [(1, "completed"), (2, "completed")]  # no gap


def test_direct_build_failure_retried_after_lost_responses_is_one_build(
    served: tuple[ServerProcess, str, str], database_url: str
) -> None:
    """A ``failed`` with no ``building`` before it (the event allocates the build),
    whose first two answers are lost."""
    server, write, _ = served
    with LossyProxy(upstream=server.port, drop=2).serve() as proxy:
        body = {**BUILD, "status": "failed"}
        status, failed = versioner_cli_post(proxy.port, PATH, write, body)
        assert (status, failed["status"], len(proxy.dropped)) == (200, "failed", 2)
        assert _body(proxy.dropped[0]) == _body(proxy.dropped[1]) == failed
        assert failed["build_number"] == "1"
        # Another CI run is another build, even for the same version and status.
        status, other = versioner_cli_post(proxy.port, PATH, write, {**body, "invoke_id": "4712"})
        assert status == 201 and other["build_number"] == "2"
    assert stored_builds(database_url) == [(1, "failed"), (2, "failed")]
