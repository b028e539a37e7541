"""Notification rules, matching, messages and signatures: pure, tested with literals."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shipmate.domain.notify.config import OPTION_KEYS, RULE_KEYS, parse_notify_config
from shipmate.domain.notify.messages import (
    SCHEMA,
    build_message,
    build_test_message,
    format_duration,
)
from shipmate.domain.notify.retries import Outcome, classify_status, next_attempt_delay
from shipmate.domain.notify.rules import (
    DEFAULT_EVENTS,
    EVENT_TYPES,
    Channel,
    NotificationEvent,
    NotificationRule,
    NotifyConfig,
    matches,
    redact_target,
)
from shipmate.domain.notify.webhooks import sign, verify_signature, webhook_body
from shipmate.domain.records import DeploymentRecord
from shipmate.errors import ConfigError

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ENV = {"WEBHOOK_SECRET": "s3cret", "SLACK_TOKEN": "T1/B2/C3"}


def parse(section: Any, env: dict[str, str] | None = None, **kw: Any) -> NotifyConfig:
    return parse_notify_config(section, env=ENV if env is None else env, **kw)


def deployment(**kw: Any) -> DeploymentRecord:
    values: dict[str, Any] = dict(
        id=42,
        product="api",
        environment="production",
        environment_kind="production",
        version="1.4.0",
        build_number=7,
        full_version="1.4.0+build.7",
        status="completed",
        kind="deploy",
        reverts_id=None,
        commit_sha="0123456789abcdef0123",
        branch="main",
        repository=None,
        deployed_by="alice",
        ci_platform=None,
        ci_run_id=None,
        ci_run_url="https://ci.example.com/run/9",
        source_system=None,
        metadata={},
        deployed_at=T0,
        created_at=T0,
        updated_at=T0,
        started_at=T0,
        finished_at=T0,
        duration_ms=134_000,
    )
    values.update(kw)
    return DeploymentRecord(**values)


def event(type_: str = "deployment.completed", **kw: Any) -> NotificationEvent:
    values: dict[str, Any] = dict(
        id=9,
        type=type_,
        at=T0,
        actor="alice",
        product="api",
        environment="production",
        from_status="started",
        to_status=type_.split(".", 1)[1] if type_.startswith("deployment.") else None,
        deployment_id=42,
        deployment=deployment(),
    )
    values.update(kw)
    return NotificationEvent(**values)


# ------------------------------------------------------------------ config


def test_array_form_with_defaults_and_inferred_channels() -> None:
    config = parse(
        [
            {"name": "hook", "url": "https://hooks.example.com/shipmate"},
            {"name": "chat", "url": "slack://${SLACK_TOKEN}/#deploys", "events": ["*"]},
        ],
        default_base_url="https://shipmate.example.com/",
    )
    hook, chat = config.rules
    assert (hook.channel, hook.events, hook.products, hook.secret) == (
        Channel.WEBHOOK,
        DEFAULT_EVENTS,
        (),
        None,
    )
    assert chat.channel == Channel.APPRISE
    assert chat.url == "slack://T1/B2/C3/#deploys"  # references resolved
    assert config.base_url == "https://shipmate.example.com"
    assert (config.max_attempts, config.retry_base_seconds, config.batch_size) == (5, 40, 50)
    assert hook.key == "notifications[0]" and chat.key == "notifications[1]"


def test_table_form_sets_worker_options() -> None:
    config = parse(
        {
            "base_url": "https://ship.example.com",
            "poll_interval_seconds": 0.5,
            "max_attempts": 3,
            "retry_base_seconds": 10,
            "timeout_seconds": 4,
            "max_age_seconds": 3600,
            "gap_timeout_seconds": 30,
            "batch_size": 5,
            "rules": [
                {
                    "name": "prod-failures",
                    "url": "https://hooks.example.com/x",
                    "secret": "${WEBHOOK_SECRET}",
                    "events": ["deployment.*", "run.failed"],
                    "products": ["api", "web-*"],
                    "environments": "prod*",
                    "statuses": ["FAILURE", "failed", "rollback"],
                }
            ],
        }
    )
    (rule,) = config.rules
    assert rule.secret == "s3cret" and rule.signed
    assert rule.events == ("deployment.*", "run.failed")
    assert rule.products == ("api", "web-*") and rule.environments == ("prod*",)
    assert rule.statuses == ("failed", "rolled_back")  # aliases folded, duplicates dropped
    assert (config.poll_interval_seconds, config.max_attempts, config.batch_size) == (0.5, 3, 5)
    assert (config.timeout_seconds, config.max_age_seconds, config.gap_timeout_seconds) == (
        4.0,
        3600,
        30,
    )
    assert config.lease_seconds == 60.0
    assert config.rules[0].key == "notifications.rules[0]"


def test_no_section_means_no_rules() -> None:
    assert parse(None).rules == ()
    assert parse([]).active_rules == ()


@pytest.mark.parametrize(
    ("section", "field", "words"),
    [
        ("nope", "notifications", "array of tables"),
        ([{"url": "https://h.example.com"}], "notifications[0].name", "required"),
        ([{"name": "has space", "url": "https://h"}], "notifications[0].name", "letters"),
        ([{"name": "a"}], "notifications[0].url", "required"),
        ([{"name": "a", "url": "not a url"}], "notifications[0].url", "URL"),
        ([{"name": "a", "url": "https://:8080/x"}], "notifications[0].url", "host"),
        ([{"name": "a", "url": "https://${MISSING}/x"}], "notifications[0].url", "MISSING"),
        (
            [{"name": "a", "url": "https://h.example.com", "secret": "literal"}],
            "notifications[0].secret",
            "environment variable",
        ),
        (
            [{"name": "a", "url": "https://h.example.com", "secret": "${NOPE}"}],
            "notifications[0].secret",
            "not set",
        ),
        (
            [{"name": "a", "url": "slack://x/y/z", "secret": "${WEBHOOK_SECRET}"}],
            "notifications[0].secret",
            "only generic webhooks",
        ),
        ([{"name": "a", "url": "https://h", "colour": 1}], "notifications[0].colour", "unknown"),
        (
            [{"name": "a", "url": "https://h", "events": ["deployment.completed", "deploy.done"]}],
            "notifications[0].events[1]",
            "not an event type",
        ),
        ([{"name": "a", "url": "https://h", "events": []}], "notifications[0].events", "at least"),
        (
            [{"name": "a", "url": "https://h", "statuses": ["exploded"]}],
            "notifications[0].statuses[0]",
            "not a status",
        ),
        (
            [{"name": "a", "url": "https://h", "products": [1]}],
            "notifications[0].products[0]",
            "string",
        ),
        (
            [{"name": "a", "url": "https://h", "via": "carrier-pigeon"}],
            "notifications[0].via",
            "webhook",
        ),
        ([{"name": "a", "url": "slack://a/b/c", "via": "webhook"}], "notifications[0].via", "http"),
        (
            [{"name": "a", "url": "https://h", "enabled": "yes"}],
            "notifications[0].enabled",
            "true or false",
        ),
        (
            [{"name": "a", "url": "https://h"}, {"name": "a", "url": "https://i"}],
            "notifications[1].name",
            "unique",
        ),
        ({"rulez": []}, "notifications.rulez", "unknown setting"),
        ({"rules": "x"}, "notifications.rules", "array"),
        ({"max_attempts": 0}, "notifications.max_attempts", "between"),
        ({"max_attempts": 2.5}, "notifications.max_attempts", "whole number"),
        ({"poll_interval_seconds": "1s"}, "notifications.poll_interval_seconds", "number"),
        ({"base_url": "ftp://x"}, "notifications.base_url", "http(s)"),
        ({"rules": [{"name": "b"}]}, "notifications.rules[0].url", "required"),
    ],
)
def test_bad_config_names_the_key(section: Any, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(section)
    assert info.value.field == field
    assert words in info.value.message


def test_targets_never_show_secrets() -> None:
    assert (
        redact_target("https://user:pw@hooks.example.com:8443/T/abc?token=x", Channel.WEBHOOK)
        == "https://hooks.example.com:8443/…"
    )
    assert redact_target("http://127.0.0.1:9000", Channel.WEBHOOK) == "http://127.0.0.1:9000/"
    assert redact_target("slack://T1/B2/C3/#deploys", Channel.APPRISE) == "slack://…"
    rule = parse([{"name": "a", "url": "mailto://me:pw@example.com"}]).rules[0]
    assert "pw" not in rule.target and "pw" not in repr(rule)
    assert "pw" not in json.dumps(rule.to_dict())
    signed = parse(
        [{"name": "s", "url": "https://h.example.com/k", "secret": "${WEBHOOK_SECRET}"}]
    ).rules[0]
    assert "s3cret" not in repr(signed) and "s3cret" not in json.dumps(signed.to_dict())


# ------------------------------------------------------------------ matching


def rule(**kw: Any) -> NotificationRule:
    kw.setdefault("name", "r")
    kw.setdefault("url", "https://h.example.com")
    return NotificationRule(**kw)


@pytest.mark.parametrize(
    ("events", "type_", "expected"),
    [
        (DEFAULT_EVENTS, "deployment.completed", True),
        (DEFAULT_EVENTS, "deployment.started", False),
        (("deployment.*",), "deployment.started", True),
        (("deployment.*",), "gate.blocked", False),
        (("*",), "version.drained", True),
        (("gate.blocked",), "gate.blocked", True),
        (("run.failed",), "run.failed.extra", False),
    ],
)
def test_event_types(events: tuple[str, ...], type_: str, expected: bool) -> None:
    assert matches(rule(events=events), event(type_)) is expected


def test_product_environment_and_status_filters() -> None:
    r = rule(
        events=("*",),
        products=("api", "web-*"),
        environments=("prod*",),
        statuses=("failed",),
    )
    assert matches(r, event("deployment.failed"))
    assert matches(r, event("deployment.failed", product="web-eu"))
    assert not matches(r, event("deployment.failed", product="worker"))
    assert not matches(r, event("deployment.failed", product="API"))  # case-sensitive
    assert not matches(r, event("deployment.failed", environment="staging"))
    assert not matches(r, event("deployment.completed"))
    # An event without a status never passes a status filter.
    assert not matches(r, event("gate.blocked", to_status=None))
    # An event without a product never passes a product filter; no filter means all.
    assert not matches(r, event("deployment.failed", product=None))
    assert matches(rule(events=("*",)), event("gate.blocked", product=None, to_status=None))
    assert not matches(rule(events=("*",), enabled=False), event())


# ------------------------------------------------------------------ messages


def test_completed_message_says_what_where_who_how_long_and_links() -> None:
    msg = build_message(event(), rule_name="ops", base_url="https://ship.example.com")
    assert msg.title == "Deployed api 1.4.0+build.7 to production"
    assert msg.severity == "success"
    lines = msg.text.splitlines()
    assert lines[0] == msg.title
    assert "product api" in lines[1] and "environment production" in lines[1]
    assert "by alice" in lines[2] and "took 2m 14s" in lines[2]
    assert "commit 0123456789ab (main)" in lines[2]
    assert "CI: https://ci.example.com/run/9" in lines
    assert lines[-1] == "https://ship.example.com/deployments/42"
    p = msg.payload
    assert p["schema"] == SCHEMA and p["rule"] == "ops"
    assert p["event"] == {
        "id": "9",
        "type": "deployment.completed",
        "at": "2026-11-22T10:00:00.000Z",
    }
    assert (p["product"], p["environment"], p["version"], p["full_version"]) == (
        "api",
        "production",
        "1.4.0",
        "1.4.0+build.7",
    )
    assert (p["status"], p["from_status"], p["actor"]) == ("completed", "started", "alice")
    assert (p["duration_ms"], p["duration"]) == (134_000, "2m 14s")
    assert p["link"] == "https://ship.example.com/deployments/42"
    assert p["deployment"]["id"] == "42" and p["deployment"]["commit_sha"] == "0123456789abcdef0123"


def test_titles_per_event() -> None:
    def title(type_: str, **kw: Any) -> str:
        return build_message(event(type_, **kw), rule_name="r", base_url=None).title

    assert title("deployment.started") == "Deployment of api 1.4.0+build.7 to production started"
    assert title("deployment.failed") == "Deployment of api 1.4.0+build.7 to production failed"
    assert title("deployment.aborted").endswith("was aborted")
    assert title("deployment.rolled_back") == "api 1.4.0+build.7 in production was rolled back"
    assert (
        title("deployment.completed", deployment=deployment(kind="rollback"))
        == "Rolled back api in production to 1.4.0+build.7"
    )
    gate = build_message(
        event(
            "gate.blocked",
            deployment=None,
            deployment_id=None,
            data={"version": "2.0.0", "reason": "freeze window until Monday"},
        ),
        rule_name="r",
        base_url="https://ship.example.com",
    )
    assert gate.title == "Deployment of api 2.0.0 to production blocked by a gate"
    assert "reason: freeze window until Monday" in gate.text
    assert gate.payload["link"] is None  # no deployment to link to
    assert gate.severity == "warning"


def test_no_base_url_no_link_and_no_duration_for_a_start() -> None:
    msg = build_message(event("deployment.started"), rule_name="r", base_url=None)
    assert msg.payload["link"] is None and "http" not in msg.text.splitlines()[-1][:4]
    assert msg.payload["duration_ms"] is None and "took" not in msg.text


def test_test_message() -> None:
    msg = build_test_message(rule_name="ops", at=T0, base_url="https://s.example.com")
    assert msg.payload["event"]["type"] == "test" and "ops" in msg.title
    assert msg.payload["link"] == "https://s.example.com/"


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, None),
        (850, "850ms"),
        (1000, "1s"),
        (134_000, "2m 14s"),
        (3_900_000, "1h 5m"),
        (90_061_000, "1d 1h"),
    ],
)
def test_format_duration(ms: int | None, text: str | None) -> None:
    assert format_duration(ms) == text


# ------------------------------------------------------------------ signatures


def test_body_is_compact_utf8_json_of_the_payload() -> None:
    msg = build_message(event(actor="zoë"), rule_name="r", base_url=None)
    body = webhook_body(msg)
    assert json.loads(body) == msg.payload
    assert b"zo\xc3\xab" in body and b", " not in body[:40]
    assert webhook_body(msg) == body  # stable


def test_signature_is_hex_hmac_sha256_of_the_exact_bytes() -> None:
    # Known answer (the Wikipedia HMAC example).
    assert sign(b"The quick brown fox jumps over the lazy dog", "key") == (
        "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    )
    body = b'{"a":1}'
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert sign(body, "s3cret") == expected
    assert verify_signature(body, "s3cret", expected)
    assert not verify_signature(body + b" ", "s3cret", expected)
    assert not verify_signature(body, "other", expected)
    assert not verify_signature(body, "s3cret", None)


# ------------------------------------------------------------------ retries


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (None, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
        (429, Outcome.RETRY),
        (408, Outcome.RETRY),
        (400, Outcome.GIVE_UP),
        (401, Outcome.GIVE_UP),
        (404, Outcome.GIVE_UP),
        (301, Outcome.GIVE_UP),
    ],
)
def test_classify_status(code: int | None, outcome: Outcome) -> None:
    assert classify_status(code) == outcome


def test_backoff_is_five_attempts_over_ten_minutes() -> None:
    delays = [next_attempt_delay(n, base_seconds=40) for n in range(1, 5)]
    assert delays == [40, 80, 160, 320]
    assert sum(delays) == 600
    assert next_attempt_delay(1, base_seconds=40, retry_after_seconds=300) == 300
    assert next_attempt_delay(3, base_seconds=40, retry_after_seconds=5) == 160
    assert next_attempt_delay(1, base_seconds=40, retry_after_seconds=10**9) == 3600
    with pytest.raises(ValueError):
        next_attempt_delay(0, base_seconds=40)


# ------------------------------------------------------------------ the docs


DOC = Path(__file__).resolve().parents[2] / "docs" / "notifications.md"


def doc_table_keys(name: str) -> list[str]:
    """First backticked word of each body row of the table marked ``name``."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"<!-- test_docs: {name} -->")
    keys: list[str] = []
    for line in lines[start + 3 :]:
        if not line.startswith("|"):
            break
        match = re.match(r"\|\s*`([^`]+)`", line)
        assert match, f"row without a key in {name}: {line}"
        keys.append(match.group(1))
    return keys


def test_docs_list_every_rule_key_option_and_event() -> None:
    assert sorted(doc_table_keys("notification-rule-keys")) == sorted(RULE_KEYS)
    assert sorted(doc_table_keys("notification-options")) == sorted(OPTION_KEYS - {"rules"})
    assert doc_table_keys("notification-events") == list(EVENT_TYPES)
    defaults = {"max_attempts": "5", "retry_base_seconds": "40", "batch_size": "50"}
    text = DOC.read_text(encoding="utf-8")
    config = parse([])
    for key, shown in defaults.items():
        assert str(int(getattr(config, key))) == shown
        assert re.search(rf"\| `{key}` \|[^\n]*\| `{shown}` \|", text), key
