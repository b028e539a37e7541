"""Stored values made safe to print on a terminal.  Pure.

A deployment's ``deployed_by``, version, branch or metadata is whatever a write
key sent.  Printed raw, an escape sequence in it clears the screen (``ESC[2J``),
plants a hidden hyperlink (``ESC]8;;http://evil BEL``), moves the cursor back
over the line (``CR``) or reverses the text that follows (``U+202E``).
:func:`printable` shows every such character as an escape instead:

* C0 controls, every one of them (``\\n`` and ``\\t`` included: a value is one
  cell or one field and never starts a new line) as ``\\n``, ``\\r``, ``\\t`` or
  ``\\x1b``;
* DEL and the C1 controls (U+0080-U+009F) as ``\\x7f``, ``\\x9b``;
* the line and paragraph separators (U+2028, U+2029) and the bidirectional
  embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) as
  ``\\u2028``, ``\\u202e``;

Everything else, including every printable non-ASCII letter, is left as it is, so
a value without such characters prints unchanged.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(value: object) -> str:
    """``str(value)`` with every control, separator and bidi character escaped."""
    text = value if isinstance(value, str) else str(value)
    return _UNSAFE.sub(_escape, text)
