"""What shipmate writes for GitHub Actions, escaped so no value becomes a command or markup.

Pure text: :mod:`shipmate.cli.ciworkflow` decides when to write and where.

- **Workflow commands** (``::error title=shipmate::message``): GitHub reads them from
  the job's output line by line.  The message keeps to one line: ``%``, ``\\r`` and
  ``\\n`` become ``%25``, ``%0D`` and ``%0A`` (GitHub turns them back), so a hostile
  product name or message cannot end the line and start another command.
  Properties (``title=``) also escape ``:`` and ``,``.
- **Step outputs** (``$GITHUB_OUTPUT``): ``name=value`` for a one-line value; any
  other value in the heredoc form ``name<<DELIMITER`` ... ``DELIMITER``, with a
  delimiter the caller draws at random and the value must not contain.
- **Job summary** (``$GITHUB_STEP_SUMMARY``, GitHub-flavoured Markdown): every value
  has each ASCII punctuation character backslash-escaped and every control or line
  break turned into a space, so it renders as the text it is (no links, no HTML, no
  table cells of its own); a link is made only to an ``http(s)`` URL, percent-encoded
  where Markdown would end it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote

__all__ = [
    "error_command",
    "escape_command_data",
    "escape_command_property",
    "escape_markdown",
    "markdown_link",
    "output_entry",
    "summary_table",
]

_DATA_ESCAPES = {"%": "%25", "\r": "%0D", "\n": "%0A"}
_PROPERTY_ESCAPES = {**_DATA_ESCAPES, ":": "%3A", ",": "%2C"}
#: ``string.punctuation``, written out: importing :mod:`string` costs every ``record``.
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
#: C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: What a Markdown link target may hold unencoded: no space, quote, bracket, parenthesis
#: or angle.
_URL_SAFE = ":/?#@!$&'*+,;=%~-._"


def _escape(text: str, table: dict[str, str]) -> str:
    return "".join(table.get(c, c) for c in text)


def escape_command_data(text: str) -> str:
    """``text`` as the message of a workflow command: one line, whatever it holds."""
    return _escape(text, _DATA_ESCAPES)


def escape_command_property(text: str) -> str:
    """``text`` as a property value (``title=...``) of a workflow command."""
    return _escape(text, _PROPERTY_ESCAPES)


def error_command(message: str, *, title: str = "shipmate") -> str:
    """``::error title=shipmate::message``: an annotation on the job's summary page."""
    return f"::error title={escape_command_property(title)}::{escape_command_data(message)}"


def output_entry(name: str, value: str, delimiter: str) -> str:
    """One entry of ``$GITHUB_OUTPUT``: ``name=value``, or the heredoc form for a value
    on several lines.  ``delimiter`` must appear in neither."""
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    if delimiter in value or delimiter in name:
        raise ValueError("the output delimiter occurs in the value")
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def escape_markdown(text: str) -> str:
    """``text`` as literal Markdown text: punctuation backslash-escaped, breaks as spaces."""
    flat = _BREAKS.sub(" ", text)
    return "".join(f"\\{c}" if c in _PUNCTUATION else c for c in flat)


def markdown_link(label: str, url: str) -> str:
    """``[label](url)`` for an ``http(s)`` URL; any other URL gives the label alone."""
    if not url.lower().startswith(("https://", "http://")):
        return escape_markdown(label)
    return f"[{escape_markdown(label)}]({quote(_BREAKS.sub('', url), safe=_URL_SAFE)})"


def summary_table(
    title: str,
    rows: Sequence[tuple[str, str | None]],
    link: tuple[str, str, str | None] | None = None,
) -> str:
    """A heading and a two-column table; a row whose value is None is left out.

    Everything is escaped here.  ``link`` is ``(label, text, url)``: a last row
    linking ``text`` to ``url`` (see :func:`markdown_link`), left out without a URL.
    """
    lines = [f"### {escape_markdown(title)}", "", "| | |", "|---|---|"]
    for label, value in rows:
        if value is not None:
            lines.append(f"| {escape_markdown(label)} | {escape_markdown(value)} |")
    if link is not None and link[2] is not None:
        lines.append(f"| {escape_markdown(link[0])} | {markdown_link(link[1], link[2])} |")
    return "\n".join(lines) + "\n\n"
