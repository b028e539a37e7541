"""Notification delivery against a real local HTTP receiver, on SQLite and PostgreSQL.

The receiver is ``http.server`` on 127.0.0.1 (a free port) in a thread; it answers
from a script of status codes and keeps every request it got.  Time is the
FakeClock of the ``ctx`` fixture: backoff is crossed by advancing it, never by
sleeping.  Also here: the API routes, the ``shipmate notifications`` commands and
the worker's life in ``shipmate serve``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.cli import main
from shipmate.demo.clock import FakeClock
from shipmate.domain.notify.config import parse_notify_config
from shipmate.domain.notify.escape import ZWSP
from shipmate.domain.notify.rules import NotificationRule, NotifyConfig
from shipmate.domain.requests import RecordRequest
from shipmate.errors import ConfigError, InvalidInputError, NotFoundError
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.services.notify.config import check_apprise_urls, load_notify_config
from shipmate.services.notify.delivery_log import get_delivery, list_deliveries
from shipmate.services.notify.scanning import scan_events
from shipmate.services.notify.sending import Outgoing, SendResult, send_test
from shipmate.services.notify.worker import NotificationWorker
from shipmate.services.records.deployments import record_deployment
from shipmate.store.deployments import append_event
from shipmate.store.engine import make_engine
from shipmate.store.schema import events, products
from shipmate.store.schema_notify import notification_cursor, notification_deliveries

SECRET = "correct horse battery staple"


# ------------------------------------------------------------------ the receiver


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int


class Receiver:
    """A real HTTP server on loopback that answers from a script (then 200)."""

    def __init__(self, script: list[int] | None = None, delay: float = 0.0) -> None:
        self.script = list(script or [])
        self.delay = delay
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver._lock:
                    code = receiver.script.pop(0) if receiver.script else 200
                    receiver.requests.append(
                        Received(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            code,
                        )
                    )
                payload = b'{"ok":true}' if code < 300 else b"receiver says no"
                self.send_response(code)
                if code == 429:
                    self.send_header("Retry-After", "120")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def delivered(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.answered < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(script: list[int] | None = None, delay: float = 0.0) -> Receiver:
        r = Receiver(script, delay)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def closed_port_url() -> str:
    """A loopback URL nobody listens on: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


# ------------------------------------------------------------------ helpers


def config(rules: list[dict[str, Any]], **options: Any) -> NotifyConfig:
    options.setdefault("base_url", "https://ship.example.com")
    return parse_notify_config(
        {"rules": rules, **options}, env={"WEBHOOK_SECRET": SECRET}, default_base_url=None
    )


def worker_for(ctx: Context, rules: list[dict[str, Any]], **options: Any) -> NotificationWorker:
    w = NotificationWorker(ctx, config(rules, **options))
    w.run_once()  # the first pass places the cursor at the newest event
    return w


def rec(ctx: Context, status: str, **kw: Any) -> Any:
    kw.setdefault("product", "api")
    kw.setdefault("environment", "production")
    kw.setdefault("version", "1.0.0")
    kw.setdefault("deployed_by", "alice")
    return record_deployment(ctx, RecordRequest(status=status, **kw))


def deliveries(ctx: Context) -> list[Any]:
    with ctx.read() as conn:
        return list(
            conn.execute(select(notification_deliveries).order_by(notification_deliveries.c.id))
        )


# ------------------------------------------------------------------ recording stays clean


def test_recording_sends_nothing_and_queues_nothing_until_the_worker_runs(
    ctx: Context, clock: FakeClock, receiver: Any
) -> None:
    hook = receiver()
    down = closed_port_url()
    worker = worker_for(
        ctx,
        [
            {"name": "hook", "url": hook.url, "events": ["deployment.*"]},
            {"name": "down", "url": down, "events": ["deployment.*"]},
        ],
    )
    for n in range(5):
        rec(ctx, "started", version=f"1.{n}.0")
        clock.advance(seconds=30)
        rec(ctx, "completed", version=f"1.{n}.0")
    # Ten status changes recorded, with one receiver down: not one request was made,
    # and not one delivery row was written by the recording itself.
    assert hook.requests == []
    assert deliveries(ctx) == []

    report = worker.drain()
    assert report.scanned == 10 and report.queued == 20
    assert len(hook.delivered()) == 10
    assert (
        sorted(json.loads(r.body)["status"] for r in hook.requests)
        == ["completed"] * 5 + ["started"] * 5
    )
    rows = deliveries(ctx)
    by_rule = {rule: [r for r in rows if r.rule == rule] for rule in ("hook", "down")}
    assert {r.status for r in by_rule["hook"]} == {"delivered"}
    assert {r.status for r in by_rule["down"]} == {"pending"}  # waiting for the retry
    assert all("cannot reach http://127.0.0.1" in r.last_error for r in by_rule["down"])
    assert all(r.attempts == 1 and r.last_status_code is None for r in by_rule["down"])


def test_events_before_the_first_pass_are_not_sent(ctx: Context, receiver: Any) -> None:
    hook = receiver()
    rec(ctx, "completed", version="0.9.0")
    worker = NotificationWorker(ctx, config([{"name": "hook", "url": hook.url}]))
    assert worker.drain().queued == 0
    rec(ctx, "completed", version="1.0.0")
    assert worker.drain().delivered == 1
    assert [json.loads(r.body)["version"] for r in hook.requests] == ["1.0.0"]


# ------------------------------------------------------------------ what arrives


def test_webhook_body_headers_and_signature(ctx: Context, clock: FakeClock, receiver: Any) -> None:
    hook = receiver()
    worker = worker_for(ctx, [{"name": "signed", "url": hook.url, "secret": "${WEBHOOK_SECRET}"}])
    rec(ctx, "started", version="1.4.0", ci_run_url="https://ci.example.com/1")
    clock.advance(seconds=134)
    dep = rec(ctx, "completed", version="1.4.0")
    worker.drain()

    (got,) = hook.requests  # only the completion matches the default events
    expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["x-shipmate-signature"] == expected
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-shipmate-event"] == "deployment.completed"
    (row,) = deliveries(ctx)
    assert got.headers["x-shipmate-delivery"] == str(row.id)
    assert got.body == row.body.encode()  # the stored bytes are the sent bytes
    body = json.loads(got.body)
    assert (body["product"], body["environment"], body["version"]) == (
        "api",
        "production",
        "1.4.0",
    )
    assert (body["actor"], body["duration_ms"], body["duration"]) == ("alice", 134_000, "2m 14s")
    assert body["link"] == f"https://ship.example.com/deployments/{dep.id}"
    assert body["title"] == "Deployed api 1.4.0 to production"
    assert "CI: https://ci.example.com/1" in body["text"]


def test_an_unsigned_rule_sends_no_signature(ctx: Context, receiver: Any) -> None:
    hook = receiver()
    worker = worker_for(ctx, [{"name": "plain", "url": hook.url}])
    rec(ctx, "failed")
    worker.drain()
    (got,) = hook.requests
    assert "x-shipmate-signature" not in got.headers
    assert json.loads(got.body)["status"] == "failed"


# ------------------------------------------------------------------ retries


def test_fails_twice_then_succeeds_gives_exactly_one_delivered_copy(
    ctx: Context, clock: FakeClock, receiver: Any
) -> None:
    hook = receiver([500, 503])
    worker = worker_for(ctx, [{"name": "flaky", "url": hook.url, "secret": "${WEBHOOK_SECRET}"}])
    rec(ctx, "completed")

    first = worker.run_once()
    assert (first.attempted, first.retrying) == (1, 1)
    (row,) = deliveries(ctx)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 500)
    assert row.next_attempt_at == clock.now + timedelta(seconds=40)

    assert worker.run_once().attempted == 0  # not due yet: nothing is sent
    clock.advance(seconds=39)
    assert worker.run_once().attempted == 0
    clock.advance(seconds=1)
    assert worker.run_once().retrying == 1  # 503 now; next in 80 s
    clock.advance(seconds=79)
    assert worker.run_once().attempted == 0
    clock.advance(seconds=1)
    assert worker.run_once().delivered == 1
    clock.advance(hours=2)
    assert worker.drain().attempted == 0  # delivered once, never again

    assert [r.answered for r in hook.requests] == [500, 503, 200]
    assert len(hook.delivered()) == 1
    assert len({r.body for r in hook.requests}) == 1  # the same bytes every time
    assert len({r.headers["x-shipmate-delivery"] for r in hook.requests}) == 1
    assert len({r.headers["x-shipmate-signature"] for r in hook.requests}) == 1

    (record,) = list_deliveries(ctx)
    assert (record.status, record.attempts, record.last_error) == ("delivered", 3, None)
    assert [(a.attempt, a.status_code, a.outcome) for a in record.attempt_log] == [
        (1, 500, "retry"),
        (2, 503, "retry"),
        (3, 200, "delivered"),
    ]
    assert record.attempt_log[0].error == "HTTP 500: receiver says no"


def test_gives_up_after_max_attempts(ctx: Context, clock: FakeClock, receiver: Any) -> None:
    hook = receiver([500] * 10)
    worker = worker_for(ctx, [{"name": "broken", "url": hook.url}], max_attempts=3)
    rec(ctx, "completed")
    for _ in range(10):
        worker.run_once()
        clock.advance(minutes=30)
    assert len(hook.requests) == 3
    (record,) = list_deliveries(ctx)
    assert (record.status, record.attempts, record.next_attempt_at) == ("failed", 3, None)
    assert record.last_error == "gave up after 3 attempts: HTTP 500: receiver says no"


def test_a_client_error_is_not_retried(ctx: Context, clock: FakeClock, receiver: Any) -> None:
    hook = receiver([404])
    worker = worker_for(ctx, [{"name": "gone", "url": hook.url}])
    rec(ctx, "completed")
    worker.run_once()
    clock.advance(hours=1)
    worker.drain()
    assert len(hook.requests) == 1
    (record,) = list_deliveries(ctx)
    assert (record.status, record.last_status_code) == ("failed", 404)


def test_retry_after_is_honoured(ctx: Context, clock: FakeClock, receiver: Any) -> None:
    hook = receiver([429])
    worker = worker_for(ctx, [{"name": "busy", "url": hook.url}])
    rec(ctx, "completed")
    worker.run_once()
    (row,) = deliveries(ctx)
    assert (row.next_attempt_at - clock.now).total_seconds() == 120  # not 40


class Crash(BaseException):
    """Stands for the process dying in the middle of a send."""


class CrashingSender:
    def __init__(self) -> None:
        self.calls = 0

    def send(self, rule: NotificationRule, message: Outgoing) -> SendResult:
        self.calls += 1
        raise Crash


def test_a_worker_that_dies_mid_send_is_retried_after_its_lease(
    ctx: Context, clock: FakeClock, receiver: Any
) -> None:
    hook = receiver()
    rules = [{"name": "hook", "url": hook.url}]
    dying = NotificationWorker(ctx, config(rules), sender=CrashingSender())
    dying.run_once()
    rec(ctx, "completed")
    with pytest.raises(Crash):
        dying.run_once()
    (row,) = deliveries(ctx)
    assert (row.status, row.attempts) == ("sending", 1)

    other = NotificationWorker(ctx, config(rules))
    assert other.run_once().attempted == 0  # still leased to the dead worker
    clock.advance(seconds=61)
    assert other.run_once().delivered == 1
    (record,) = list_deliveries(ctx)
    assert (record.status, record.attempts) == ("delivered", 2)
    assert len(hook.requests) == 1


def test_a_removed_rule_fails_its_pending_deliveries(ctx: Context, receiver: Any) -> None:
    hook = receiver()
    scan_only = NotificationWorker(ctx, config([{"name": "old", "url": hook.url}]))
    scan_only.run_once()
    rec(ctx, "completed")
    scan_events(ctx, scan_only.config)
    renamed = NotificationWorker(ctx, config([{"name": "new", "url": hook.url}]))
    renamed.drain()
    (record,) = list_deliveries(ctx, rule="old")
    assert record.status == "failed" and "no longer configured" in (record.last_error or "")
    assert hook.requests == []


def test_events_too_old_when_first_seen_expire(
    ctx: Context, clock: FakeClock, receiver: Any
) -> None:
    hook = receiver()
    worker = worker_for(ctx, [{"name": "hook", "url": hook.url}], max_age_seconds=3600)
    rec(ctx, "completed")
    clock.advance(hours=2)  # the worker was down for two hours
    report = worker.drain()
    assert (report.expired, report.delivered) == (1, 0)
    (record,) = list_deliveries(ctx)
    assert record.status == "expired" and "max_age_seconds" in (record.last_error or "")
    assert hook.requests == []


# ------------------------------------------------------------------ filters


def test_rules_filter_by_product_environment_and_status(ctx: Context, receiver: Any) -> None:
    hook = receiver()
    worker = worker_for(
        ctx,
        [
            {"name": "api-only", "url": hook.url, "events": ["*"], "products": ["api"]},
            {"name": "prod", "url": hook.url, "environments": ["prod*"]},
            {"name": "failures", "url": hook.url, "events": ["deployment.*"], "statuses": ["fail"]},
            {
                "name": "web-staging",
                "url": hook.url,
                "products": ["web-*"],
                "environments": ["staging"],
            },
            {"name": "off", "url": hook.url, "events": ["*"], "enabled": False},
        ],
    )
    rec(ctx, "completed", product="api", environment="production")
    rec(ctx, "failed", product="web-eu", environment="staging", version="2.0.0")
    rec(ctx, "completed", product="web-us", environment="staging", version="2.0.1")
    rec(ctx, "started", product="worker", environment="prod-eu", version="3.0.0")
    worker.drain()

    got: dict[str, list[tuple[str, str, str]]] = {}
    for d in list_deliveries(ctx, limit=100):
        got.setdefault(d.rule, []).append((d.product or "", d.environment or "", d.event_type))
    assert sorted(got["api-only"]) == [("api", "production", "deployment.completed")]
    assert sorted(got["prod"]) == [("api", "production", "deployment.completed")]
    assert sorted(got["failures"]) == [("web-eu", "staging", "deployment.failed")]
    assert sorted(got["web-staging"]) == [
        ("web-eu", "staging", "deployment.failed"),
        ("web-us", "staging", "deployment.completed"),
    ]
    assert "off" not in got
    assert len(hook.delivered()) == 5


# ------------------------------------------------------------------ several workers


def test_two_workers_never_deliver_the_same_event_twice(
    ctx: Context, clock: FakeClock, receiver: Any
) -> None:
    hook = receiver(delay=0.002)
    rules = [{"name": "hook", "url": hook.url, "events": ["deployment.*"]}]
    second = Context(
        settings=ctx.settings, engine=make_engine(ctx.settings.effective_database_url), clock=clock
    )
    try:
        workers = [
            NotificationWorker(ctx, config(rules, batch_size=3), name="w1"),
            NotificationWorker(second, config(rules, batch_size=3), name="w2"),
        ]
        workers[0].run_once()
        for n in range(20):
            rec(ctx, "completed", version=f"1.{n}.0")
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def run(w: NotificationWorker) -> None:
            try:
                barrier.wait()
                for _ in range(3):
                    w.drain()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(w,)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
    finally:
        second.close()

    ids = [json.loads(r.body)["event"]["id"] for r in hook.requests]
    assert len(ids) == 20 and len(set(ids)) == 20  # every event once, none twice
    rows = deliveries(ctx)
    assert len(rows) == 20 and {r.status for r in rows} == {"delivered"}
    assert {r.attempts for r in rows} == {1}
    workers_seen = {a.worker for d in list_deliveries(ctx, limit=100) for a in d.attempt_log}
    assert workers_seen <= {"w1", "w2"}


def test_an_event_committed_late_is_still_delivered(
    pg_url: str, clock: FakeClock, receiver: Any, tmp_path: Path
) -> None:
    """PostgreSQL hands out ids at insert and makes them visible at commit: id 10 may
    appear after id 11 was scanned.  The gap is watched until it fills."""
    from shipmate.config import Settings

    settings = Settings(database_url=pg_url, data_dir=str(tmp_path))
    ctx = Context(settings=settings, engine=make_engine(pg_url), clock=clock)
    hook = receiver()
    try:
        worker = worker_for(
            ctx, [{"name": "hook", "url": hook.url, "events": ["*"]}], gap_timeout_seconds=300
        )
        rec(ctx, "completed", version="1.0.0")
        worker.drain()
        with ctx.read() as conn:
            product_id = conn.execute(select(products.c.id)).scalar_one()
        late = ctx.engine.connect()
        tx = late.begin()
        append_event(
            late,
            type="gate.blocked",
            at=clock.now,
            actor="bob",
            product_id=product_id,
            data={"version": "1.1.0", "reason": "freeze"},
        )
        late_id = late.execute(select(func.max(events.c.id))).scalar_one()
        rec(ctx, "completed", version="1.2.0")  # commits an id above the open one
        worker.drain()
        with ctx.read() as conn:
            cursor = conn.execute(select(notification_cursor)).one()
        assert str(late_id) in cursor.gaps and cursor.position > late_id
        tx.commit()
        late.close()
        worker.drain()
        types = [json.loads(r.body)["event"]["type"] for r in hook.requests]
        assert types == ["deployment.completed", "deployment.completed", "gate.blocked"]
        with ctx.read() as conn:
            assert conn.execute(select(notification_cursor.c.gaps)).scalar_one() == {}

        # An id lost to a rolled-back transaction is watched only until the timeout.
        lost = ctx.engine.connect()
        tx = lost.begin()
        append_event(lost, type="gate.blocked", at=clock.now, actor="x", product_id=product_id)
        tx.rollback()
        lost.close()
        rec(ctx, "completed", version="1.3.0")
        worker.drain()
        with ctx.read() as conn:
            assert len(conn.execute(select(notification_cursor.c.gaps)).scalar_one()) == 1
        clock.advance(seconds=301)
        worker.drain()
        with ctx.read() as conn:
            assert conn.execute(select(notification_cursor.c.gaps)).scalar_one() == {}
    finally:
        ctx.close()


# ------------------------------------------------------------------ background thread


def wait_for(predicate: Any, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_the_background_worker_delivers_and_stops(ctx: Context, receiver: Any) -> None:
    hook = receiver()
    worker = NotificationWorker(
        ctx, config([{"name": "hook", "url": hook.url}], poll_interval_seconds=0.05)
    )
    worker.run_once()
    worker.start()
    try:
        assert worker.running
        rec(ctx, "completed")
        assert wait_for(lambda: len(hook.delivered()) == 1)
    finally:
        worker.stop()
    assert not worker.running


# ------------------------------------------------------------------ Apprise


def test_apprise_urls_are_validated_by_apprise() -> None:
    good = config(
        [
            {
                "name": "slack",
                "url": "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#deploys",
            },
            {"name": "teams", "url": "workflows://prod-00.westus.logic.azure.com:443/abc/sig"},
            {"name": "discord", "url": "discord://1234567/abcdefg"},
            {
                "name": "email",
                "url": "mailtos://ship:pw@example.com?smtp=smtp.example.com&to=team@example.com",
            },
            {"name": "json", "url": "json://127.0.0.1:9/x"},
        ]
    )
    check_apprise_urls(good)  # accepted
    bad = config(
        [{"name": "ok", "url": "https://h.example.com"}, {"name": "typo", "url": "slack://x"}]
    )
    with pytest.raises(ConfigError) as info:
        check_apprise_urls(bad)
    assert info.value.field == "notifications.rules[1].url"
    assert "typo" in info.value.message
    with pytest.raises(ConfigError):
        check_apprise_urls(config([{"name": "n", "url": "nosuchservice://x"}]))


def test_apprise_urls_are_sent_through_apprise(
    ctx: Context, clock: FakeClock, receiver: Any
) -> None:
    hook = receiver([500])
    port = hook.port
    worker = worker_for(ctx, [{"name": "via-apprise", "url": f"json://127.0.0.1:{port}/apprise"}])
    rec(ctx, "failed", version="2.0.0")
    worker.run_once()
    (row,) = deliveries(ctx)
    assert (row.status, row.channel, row.target) == ("pending", "apprise", "json://…")
    assert "500" in (row.last_error or "")
    clock.advance(seconds=40)
    assert worker.run_once().delivered == 1
    _first, second = hook.requests
    assert second.path == "/apprise" and second.headers["user-agent"] == "Apprise"
    sent = json.loads(second.body)
    assert sent["title"] == "Deployment of api 2.0.0 to production failed"
    assert sent["type"] == "failure"
    assert "by alice" in sent["message"] and "deployments/" in sent["message"]
    assert "x-shipmate-signature" not in second.headers  # Apprise's format, unsigned


# ------------------------------------------------------------------ config and queries


def test_load_notify_config_reads_settings_and_environment(ctx: Context) -> None:
    settings = replace(
        ctx.settings,
        url="https://ship.example.com",
        sections={
            "notifications": [
                {"name": "hook", "url": "https://h.example.com/x", "secret": "${HOOK_KEY}"}
            ]
        },
    )
    loaded = load_notify_config(settings, env={"HOOK_KEY": "k"})
    assert loaded.rules[0].secret == "k" and loaded.base_url == "https://ship.example.com"
    with pytest.raises(ConfigError) as info:
        load_notify_config(settings, env={})
    assert info.value.field == "notifications[0].secret"


def test_delivery_listing_filters_and_pages(ctx: Context, receiver: Any) -> None:
    hook = receiver([404])
    worker = worker_for(ctx, [{"name": "a", "url": hook.url}, {"name": "b", "url": hook.url}])
    rec(ctx, "completed")
    rec(ctx, "completed", product="web")
    worker.drain()
    everything = list_deliveries(ctx)
    assert len(everything) == 4 and [d.id for d in everything] == sorted(
        (d.id for d in everything), reverse=True
    )
    assert len(list_deliveries(ctx, status="failed")) == 1
    assert len(list_deliveries(ctx, status="delivered")) == 3
    assert {d.rule for d in list_deliveries(ctx, rule="b")} == {"b"}
    assert {d.product for d in list_deliveries(ctx, product="web")} == {"web"}
    assert list_deliveries(ctx, environment="staging") == []
    page = list_deliveries(ctx, limit=3)
    rest = list_deliveries(ctx, limit=3, before_id=page[-1].id)
    assert len(page) == 3 and len(rest) == 1
    one = get_delivery(ctx, rest[0].id)
    assert json.loads(one.body)["rule"] == one.rule and one.attempt_log
    with pytest.raises(InvalidInputError) as info:
        list_deliveries(ctx, status="lost")
    assert info.value.field == "status"
    with pytest.raises(InvalidInputError):
        list_deliveries(ctx, limit=0)
    with pytest.raises(NotFoundError):
        get_delivery(ctx, 999_999)


def test_send_test_reaches_the_target_without_writing(ctx: Context, receiver: Any) -> None:
    hook = receiver([200, 502])
    cfg = config([{"name": "hook", "url": hook.url, "secret": "${WEBHOOK_SECRET}"}])
    ok = send_test(ctx, cfg, "hook")
    assert ok.to_dict() == {
        "delivered": True,
        "outcome": "delivered",
        "status_code": 200,
        "error": None,
    }
    (got,) = hook.requests
    assert json.loads(got.body)["event"]["type"] == "test"
    assert got.headers["x-shipmate-signature"].startswith("sha256=")
    bad = send_test(ctx, cfg, "hook")
    assert (bad.status_code, bad.to_dict()["delivered"]) == (502, False)
    assert deliveries(ctx) == []
    with pytest.raises(NotFoundError) as info:
        send_test(ctx, cfg, "nope")
    assert info.value.field == "rule" and "hook" in info.value.message
    down = send_test(ctx, config([{"name": "down", "url": closed_port_url()}]), "down")
    assert down.status_code is None and "cannot reach" in (down.error or "")


# ------------------------------------------------------------------ API and serve


def test_serve_runs_the_worker_and_the_api_shows_rules_and_deliveries(
    ctx: Context, receiver: Any
) -> None:
    hook = receiver()
    settings = replace(
        ctx.settings,
        sections={
            "notifications": {
                "base_url": "https://ship.example.com",
                "poll_interval_seconds": 0.05,
                "rules": [{"name": "hook", "url": hook.url}],
            }
        },
    )
    served = Context(settings=settings, engine=ctx.engine, clock=ctx.clock)
    tokens = {s: create_key(ctx, f"{s}-key", s).token for s in ("read", "write", "admin")}
    app = create_app(settings, ctx=served, server=ServerSettings())
    with TestClient(app, raise_server_exceptions=False) as client:
        worker = app.state.notification_worker
        assert worker is not None and worker.running
        worker.run_once()  # the cursor is placed before anything is recorded
        h = {"Authorization": f"Bearer {tokens['write']}"}
        r = client.post(
            "/api/v1/deployments",
            json={
                "product": "api",
                "environment": "production",
                "version": "1.0.0",
                "status": "success",
            },
            headers=h,
        )
        assert r.status_code == 201, r.text
        assert wait_for(lambda: len(hook.delivered()) == 1)

        rules = client.get(
            "/api/v1/notifications/rules", headers={"Authorization": f"Bearer {tokens['read']}"}
        )
        assert rules.status_code == 200
        assert rules.json()["items"][0]["name"] == "hook"
        assert rules.json()["items"][0]["target"] == f"http://127.0.0.1:{hook.port}/…"
        assert rules.json()["worker_running"] is True

        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        assert client.get("/api/v1/notifications/deliveries", headers=h).status_code == 403
        listed = client.get("/api/v1/notifications/deliveries?status=delivered", headers=admin)
        assert listed.status_code == 200
        (item,) = listed.json()["items"]
        assert (item["rule"], item["status"], item["product"]) == ("hook", "delivered", "api")
        assert item["attempt_log"][0]["status_code"] == 200
        bad = client.get("/api/v1/notifications/deliveries?status=lost", headers=admin)
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "status"

        tested = client.post("/api/v1/notifications/test", json={"rule": "hook"}, headers=admin)
        assert tested.status_code == 200 and tested.json()["delivered"] is True
        missing = client.post("/api/v1/notifications/test", json={"rule": "nope"}, headers=admin)
        assert missing.status_code == 404 and missing.json()["error"]["field"] == "rule"
        assert (
            client.post("/api/v1/notifications/test", json={"rule": "hook"}, headers=h).status_code
            == 403
        )
    assert not worker.running  # stopped at shutdown


def test_serve_without_rules_starts_no_worker(ctx: Context) -> None:
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings(anonymous_read=True))
    with TestClient(app) as client:
        assert app.state.notification_worker is None
        body = client.get("/api/v1/notifications/rules").json()
        assert body == {"items": [], "base_url": None, "worker_running": False}


# ------------------------------------------------------------------ CLI


@pytest.fixture
def cli(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Any:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("SHIPMATE_DATABASE_URL", database_url)
    monkeypatch.setenv("SHIPMATE_CONFIG", str(work / "shipmate.toml"))
    monkeypatch.setenv("HOOK_SECRET", SECRET)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_cli_list_run_deliveries_and_test(cli: Any, receiver: Any, tmp_path: Path) -> None:
    hook = receiver()
    (tmp_path / "work" / "shipmate.toml").write_text(
        f"""
[[notifications]]
name = "hook"
url = "{hook.url}"
secret = "${{HOOK_SECRET}}"
events = ["deployment.completed", "deployment.failed"]
products = ["api"]
""",
        encoding="utf-8",
    )
    code, out, _ = cli("notifications", "list")
    assert code == 0 and "hook" in out and f"127.0.0.1:{hook.port}/…" in out and SECRET not in out
    code, out, _ = cli("notifications", "list", "--json")
    assert json.loads(out)["items"][0]["signed"] is True

    assert cli("notifications", "run")[0] == 0  # places the cursor
    assert (
        cli(
            "record",
            "--product",
            "api",
            "--env",
            "production",
            "--version",
            "1.0.0",
            "--status",
            "success",
            "--no-detect",
        )[0]
        == 0
    )
    assert hook.requests == []  # recording sent nothing
    code, out, _ = cli("notifications", "run", "--json")
    assert code == 0 and json.loads(out)["delivered"] == 1
    (got,) = hook.requests
    assert hmac.compare_digest(
        got.headers["x-shipmate-signature"],
        "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest(),
    )

    code, out, _ = cli("notifications", "deliveries")
    assert code == 0 and "delivered" in out and "deployment.completed" in out
    code, out, _ = cli("notifications", "deliveries", "--json", "--status", "failed")
    assert json.loads(out)["items"] == []
    code, _, err = cli("notifications", "deliveries", "--status", "lost")
    assert code == 2 and "[status]" in err

    code, out, _ = cli("notifications", "test", "hook")
    assert code == 0 and "delivered" in out
    code, _, err = cli("notifications", "test", "nope")
    assert code == 1 and "nope" in err
    code, _, err = cli("notifications", "run", "--interval", "0")
    assert code == 2 and "[interval]" in err


def test_cli_reports_a_bad_rule_by_its_key(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "work" / "shipmate.toml").write_text(
        '[[notifications]]\nname = "x"\nurl = "https://h.example.com"\nsecret = "plain"\n',
        encoding="utf-8",
    )
    code, _, err = cli("notifications", "list")
    assert code == 2 and "[notifications[0].secret]" in err
    (tmp_path / "work" / "shipmate.toml").write_text("", encoding="utf-8")
    code, _, err = cli("notifications", "run")
    assert code == 0 and "no notification rules" in err


# ------------------------------------------------------------------ other event sources


def test_a_gate_refusal_is_sent_even_before_the_product_exists(
    ctx: Context, clock: FakeClock, receiver: Any
) -> None:
    hook = receiver()
    worker = worker_for(
        ctx,
        [{"name": "gates", "url": hook.url, "events": ["gate.blocked"], "products": ["api"]}],
    )
    with ctx.write() as conn:  # what the gates service appends for a refused first deploy
        append_event(
            conn,
            type="gate.blocked",
            at=clock.now,
            actor="carol",
            data={
                "product": "api",
                "environment": "production",
                "version": "2.0.0",
                "message": "production is frozen until 2026-11-23T08:00:00Z",
            },
        )
    worker.drain()
    (got,) = hook.requests
    body = json.loads(got.body)
    assert body["title"] == "Deployment of api 2.0.0 to production blocked by a gate"
    assert (body["product"], body["environment"], body["actor"]) == ("api", "production", "carol")
    assert "reason: production is frozen until 2026-11-23T08:00:00Z" in body["text"]
    assert body["severity"] == "warning" and body["link"] is None


def test_disabling_a_rule_stops_its_pending_deliveries(ctx: Context, receiver: Any) -> None:
    hook = receiver()
    rules = [{"name": "hook", "url": hook.url}]
    NotificationWorker(ctx, config(rules)).run_once()
    rec(ctx, "completed")
    scan_events(ctx, config(rules))
    NotificationWorker(ctx, config([{**rules[0], "enabled": False}])).drain()
    (record,) = list_deliveries(ctx)
    assert (record.status, record.last_error) == ("failed", "rule 'hook' is disabled; not sent")
    assert hook.requests == []


# ------------------------------------------------------------------ a real server


@pytest.mark.slow
def test_a_real_serve_with_two_workers_delivers_each_event_once(
    ctx: Context, receiver: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from tests.support.server import ServerProcess

    hook = receiver()
    config_file = tmp_path / "shipmate.toml"
    config_file.write_text(
        f"""
[notifications]
poll_interval_seconds = 0.1

[[notifications.rules]]
name = "hook"
url = "{hook.url}"
secret = "${{HOOK_SECRET}}"
events = ["deployment.*"]
""",
        encoding="utf-8",
    )
    # Place the cursor first, so no event recorded below can precede it.
    NotificationWorker(ctx, config([{"name": "hook", "url": hook.url}])).run_once()
    token = create_key(ctx, "ci", "admin").token
    with ServerProcess(
        ctx.settings.effective_database_url,
        workers=2,
        env={"HOOK_SECRET": SECRET},
        config_file=config_file,
        log_path=tmp_path / "server.log",
    ) as server:
        monkeypatch.setenv("SHIPMATE_URL", server.base_url)
        monkeypatch.setenv("SHIPMATE_TOKEN", token)
        monkeypatch.chdir(tmp_path)

        def cli(*argv: str) -> tuple[int, str, str]:
            code = main(list(argv))
            out, err = capsys.readouterr()
            return code, out, err

        for n in range(6):
            code, _, err = cli(
                "record", "--product", "api", "--env", "production", "--version", f"1.{n}.0",
                "--status", "success", "--no-detect",
            )  # fmt: skip
            assert code == 0, err
        assert wait_for(lambda: len(hook.requests) >= 6, seconds=60)
        time.sleep(0.5)  # let a duplicate, if there were one, arrive
        ids = [json.loads(r.body)["event"]["id"] for r in hook.requests]
        assert len(ids) == 6 and len(set(ids)) == 6
        for got in hook.requests:
            expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
            assert got.headers["x-shipmate-signature"] == expected

        # The remote CLI shows the server's rules and log.
        code, out, _ = cli("notifications", "list", "--json")
        assert code == 0 and json.loads(out)["items"][0]["name"] == "hook"
        code, out, _ = cli("notifications", "deliveries", "--json", "--limit", "4")
        page = json.loads(out)
        assert {d["status"] for d in page["items"]} == {"delivered"} and page["next_before_id"]
        code, out, _ = cli("notifications", "deliveries", "--before", page["next_before_id"])
        assert code == 0 and len(out.strip().splitlines()) == 3  # header + 2 rows
        code, out, _ = cli("notifications", "deliveries", "--json", "--limit", "4", "--all")
        every = json.loads(out)
        assert code == 0 and len(every["items"]) == 6 and every["next_before_id"] is None
        code, out, _ = cli("notifications", "test", "hook")
        assert code == 0 and "delivered" in out
        assert json.loads(hook.requests[-1].body)["event"]["type"] == "test"


# ------------------------------------------------------------------ escaping per target


def test_forged_values_reach_slack_discord_and_teams_inert(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: a recorded deployment, the worker, Apprise, the request it makes."""
    import requests

    sent: dict[str, Any] = {}

    class Answer:
        status_code = 200
        ok = True
        text = "ok"
        content = b"ok"
        headers: dict[str, str] = {}

        def json(self) -> dict[str, Any]:
            return {"ok": True}

    def capture(*args: Any, **kwargs: Any) -> Answer:
        url = str(kwargs.get("url") or args[-1])
        sent[url.split("/")[2]] = json.loads(kwargs.get("data") or "{}")
        return Answer()

    monkeypatch.setattr(requests, "post", capture)
    monkeypatch.setattr(requests, "request", lambda method, url, **kw: capture(url, **kw))
    worker = worker_for(
        ctx,
        [
            {"name": "slack", "url": "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"},
            {"name": "discord", "url": "discord://1234567/abcdefg"},
            {"name": "teams", "url": "workflows://prod-00.westus.logic.azure.com:443/ab/cd"},
        ],
    )
    rec(ctx, "completed", deployed_by="<!channel> @everyone *boss*\nreason: all good")
    worker.drain()
    assert all(d.status == "delivered" for d in deliveries(ctx))

    slack = sent["hooks.slack.com"]["attachments"][0]["text"]
    assert "<!channel>" not in slack and "&lt;!channel&gt;" in slack
    assert "\nreason:" not in slack and f"*{ZWSP}boss*{ZWSP}" in slack

    discord = sent["discord.com"]
    assert discord["allowed_mentions"] == {"parse": []}
    assert "@everyone" not in discord["content"] and "\nreason:" not in discord["content"]

    card = sent["prod-00.westus.logic.azure.com:443"]["attachments"][0]["content"]
    body = next(b["text"] for b in card["body"] if b.get("id") == "body")
    assert "\nreason:" not in body and "\\*boss\\*" in body
