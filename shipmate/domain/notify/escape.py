"""Values inserted into a notification, escaped for the service that shows them.  Pure.

A message is shipmate's own wording (``Deployed {product} {version} to {env}``)
with values a client sent filled in: the actor, the version, the branch, a
gate's reason.  Only the filled-in values are escaped; the wording is not.

Every message is plain text handed to Apprise, which converts plain text into
each service's own dialect (for Slack it turns ``&``, ``<`` and ``>`` into
``&amp;``, ``&lt;`` and ``&gt;``, so ``<!channel>``, ``<@U123>`` and
``<http://x|y>`` arrive as inert text; for Teams it escapes the body's
markdown).  What that conversion leaves out is done here, per target:

* every target: a value is one field on one line, so its line breaks, control,
  separator and bidi characters are shown escaped (``\\n``, ``\\x1b``) and never
  start a fake line (:func:`~shipmate.domain.printable.printable`);
* ``SLACK``: ``*``, ``_``, ``~`` and `````` in a value are followed by a zero-width
  space, so they cannot open bold, italic, strike or code;
* ``TEAMS``: the title, which Apprise sends unconverted, has markdown and HTML
  backslash-escaped (:func:`escape_teams_title`);
* ``DISCORD``: Apprise sends the text as is and Discord renders markdown and
  mentions, so markdown characters are backslash-escaped and every ``@`` is
  followed by a zero-width space (``@everyone``, ``@here``, ``<@123>`` and
  ``<@&456>`` ping nobody); the payload also carries
  ``allowed_mentions: {"parse": []}`` (see ``services/notify/targets.py``);
* ``PLAIN`` (email, generic webhook text, any other Apprise service): nothing more.

The generic webhook's structured fields (``actor``, ``version``, ``deployment``,
``data``) are JSON and carry the values unchanged.
"""

from __future__ import annotations

import re
from enum import StrEnum
from urllib.parse import urlsplit

from shipmate.domain.printable import printable

__all__ = [
    "MessageFormat",
    "escape_teams_title",
    "escape_value",
    "message_format",
]

ZWSP = "\u200b"


class MessageFormat(StrEnum):
    """The dialect a rule's messages end up in."""

    PLAIN = "plain"
    SLACK = "slack"
    TEAMS = "teams"
    DISCORD = "discord"


_SCHEMES = {
    "slack": MessageFormat.SLACK,
    "workflows": MessageFormat.TEAMS,
    "workflow": MessageFormat.TEAMS,
    "msteams": MessageFormat.TEAMS,
    "discord": MessageFormat.DISCORD,
}
_HOSTS = (
    ("hooks.slack.com", MessageFormat.SLACK),
    ("discord.com", MessageFormat.DISCORD),
    ("discordapp.com", MessageFormat.DISCORD),
    ("logic.azure.com", MessageFormat.TEAMS),
    ("webhook.office.com", MessageFormat.TEAMS),
)

_SLACK_MARKS = re.compile(r"[*_~`]")
_DISCORD_MARKS = re.compile(r"([\\*_~`|>#\[\]()\-:])")
_TEAMS_MARKS = re.compile(r"([\\*_~`|<>#\[\]()!\-+.&])")


def message_format(url: str) -> MessageFormat:
    """The dialect of the service a rule's URL (Apprise or ``https://``) reaches."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in _SCHEMES:
        return _SCHEMES[scheme]
    if scheme in ("http", "https"):
        host = (urlsplit(url).hostname or "").lower()
        for suffix, fmt in _HOSTS:
            if host == suffix or host.endswith("." + suffix):
                return fmt
    return MessageFormat.PLAIN


def escape_value(value: object, fmt: MessageFormat) -> str:
    """``value`` as it is inserted into a message for ``fmt`` (see the module doc)."""
    text = printable(value)
    if fmt == MessageFormat.SLACK:
        return _SLACK_MARKS.sub(lambda m: m.group() + ZWSP, text)
    if fmt == MessageFormat.DISCORD:
        return _DISCORD_MARKS.sub(r"\\\1", text).replace("@", "@" + ZWSP)
    return text


def escape_teams_title(title: str) -> str:
    """A Teams card title (sent by Apprise as is): markdown and HTML made literal.

    Backslash escapes, as Apprise writes them for the body: ``<b>`` becomes
    ``\\<b\\>`` and shows as typed.
    """
    return _TEAMS_MARKS.sub(r"\\\1", title)
