"""The notification rules and worker options of the server's settings, checked at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping

from shipmate.config import Settings
from shipmate.domain.notify.config import parse_notify_config
from shipmate.domain.notify.rules import Channel, NotifyConfig
from shipmate.errors import ConfigError
from shipmate.services.notify.targets import load_apprise

__all__ = ["check_apprise_urls", "load_notify_config"]


def load_notify_config(
    settings: Settings,
    env: Mapping[str, str] | None = None,
    *,
    check_apprise: bool = True,
) -> NotifyConfig:
    """The rules and worker options of ``settings``; ``${VAR}`` from ``env`` (default: os.environ).

    With ``check_apprise`` every Apprise URL is handed to Apprise to validate, so
    a typo fails at start-up rather than at the first delivery.
    """
    config = parse_notify_config(
        settings.sections.get("notifications"),
        env=os.environ if env is None else env,
        default_base_url=settings.url,
    )
    if check_apprise:
        check_apprise_urls(config)
    return config


def check_apprise_urls(config: NotifyConfig) -> None:
    """Refuse an Apprise URL that Apprise does not recognise, naming the rule's key."""
    rules = [r for r in config.rules if r.channel == Channel.APPRISE]
    if not rules:
        return
    apprise = load_apprise()
    for rule in rules:
        if apprise.Apprise.instantiate(rule.url) is None:
            key = f"{rule.key}.url" if rule.key else "notifications"
            scheme = rule.url.split("://", 1)[0]
            raise ConfigError(
                f"{key}: Apprise does not accept this {scheme}:// URL (rule {rule.name!r}); "
                "check its form at https://appriseit.com (Teams uses workflows://)",
                field=key,
            )
