"""Values filled into notification messages are escaped per target; the wording is not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shipmate.domain.notify.escape import (
    ZWSP,
    MessageFormat,
    escape_teams_title,
    escape_value,
    message_format,
)
from shipmate.domain.notify.messages import build_message
from shipmate.domain.notify.rules import NotificationEvent

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "fmt"),
    [
        ("slack://T1/B2/C3/#deploys", MessageFormat.SLACK),
        ("https://hooks.slack.com/services/T1/B2/C3", MessageFormat.SLACK),
        ("discord://123/abc", MessageFormat.DISCORD),
        ("https://discord.com/api/webhooks/1/x", MessageFormat.DISCORD),
        ("workflows://prod-00.westus.logic.azure.com:443/a/b", MessageFormat.TEAMS),
        ("https://prod-00.westus.logic.azure.com/workflows/a", MessageFormat.TEAMS),
        ("mailtos://u:p@example.com", MessageFormat.PLAIN),
        ("https://bot.example.com/hook", MessageFormat.PLAIN),
        ("https://evilhooks.slack.com.example.net/x", MessageFormat.PLAIN),
    ],
)
def test_the_target_dialect_follows_the_url(url: str, fmt: MessageFormat) -> None:
    assert message_format(url) == fmt


def test_every_dialect_keeps_a_value_on_one_line() -> None:
    for fmt in MessageFormat:
        assert "\n" not in escape_value("1.0\nreason: all good\r", fmt)
        assert "\x1b" not in escape_value("\x1b[2J", fmt)


def test_slack_formatting_marks_are_broken_up() -> None:
    assert escape_value("*bold* _it_ ~s~ `c`", MessageFormat.SLACK) == (
        f"*{ZWSP}bold*{ZWSP} _{ZWSP}it_{ZWSP} ~{ZWSP}s~{ZWSP} `{ZWSP}c`{ZWSP}"
    )


def test_discord_markdown_and_mentions_are_neutralised() -> None:
    shown = escape_value("@everyone <@123> [x](http://evil) **b**", MessageFormat.DISCORD)
    assert "@everyone" not in shown and "<@123>" not in shown
    assert shown == (f"@{ZWSP}everyone <@{ZWSP}123\\> \\[x\\]\\(http\\://evil\\) \\*\\*b\\*\\*")


def test_teams_title_escapes_markdown_and_html() -> None:
    assert escape_teams_title("[x](http://e) <b>&") == "\\[x\\]\\(http://e\\) \\<b\\>\\&"


def test_plain_keeps_the_value() -> None:
    assert escape_value("<!channel> *x* @here", MessageFormat.PLAIN) == "<!channel> *x* @here"


def _event(**data: object) -> NotificationEvent:
    return NotificationEvent(
        id=1,
        type="gate.blocked",
        at=T0,
        actor="<!channel> @everyone",
        product="api",
        environment="production",
        data={"version": "1.0\nby the on-call lead", "reason": "ok\nCI: http://evil", **data},
    )


def test_a_newline_in_a_value_makes_no_new_line_in_any_message() -> None:
    for fmt in MessageFormat:
        msg = build_message(_event(), rule_name="r", base_url=None, fmt=fmt)
        lines = msg.text.splitlines()
        assert len(lines) == 4, (fmt, lines)  # title, facts, by, reason
        assert not any(line.startswith(("by the", "CI:")) for line in lines)
        assert "\n" not in msg.title


def test_the_webhook_body_keeps_structured_values_unchanged() -> None:
    msg = build_message(_event(), rule_name="r", base_url=None)
    assert msg.payload["actor"] == "<!channel> @everyone"
    assert msg.payload["version"] == "1.0\nby the on-call lead"
    assert msg.payload["data"]["reason"] == "ok\nCI: http://evil"
    assert "1.0\\nby the on-call lead" in msg.payload["title"]


def test_discord_message_pings_nobody_and_the_wording_is_untouched() -> None:
    msg = build_message(_event(), rule_name="r", base_url=None, fmt=MessageFormat.DISCORD)
    assert "@everyone" not in msg.text and f"@{ZWSP}everyone" in msg.text
    assert msg.title.startswith("Deployment of api 1.0\\\\nby the on\\-call lead to production")
