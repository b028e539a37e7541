"""printable(): stored values shown on a terminal with every control character escaped."""

from __future__ import annotations

import pytest

from shipmate.domain.printable import printable


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("alice", "alice"),
        ("Zoë 🚀 日本", "Zoë 🚀 日本"),
        ("a\nb", "a\\nb"),
        ("a\r\tb", "a\\r\\tb"),
        ("\x1b[2J", "\\x1b[2J"),
        (
            "\x1b]8;;http://evil\x07click\x1b]8;;\x07",
            "\\x1b]8;;http://evil\\x07click\\x1b]8;;\\x07",
        ),
        ("\x00\x7f", "\\x00\\x7f"),
        ("\x9b2J\x85", "\\x9b2J\\x85"),
        ("abc\u202edcba", "abc\\u202edcba"),
        ("\u2066x\u2069\u202a\u2028", "\\u2066x\\u2069\\u202a\\u2028"),
    ],
)
def test_controls_are_escaped_and_everything_else_kept(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_no_control_character_survives() -> None:
    every = "".join(chr(c) for c in range(0xA0)) + "".join(
        chr(c) for c in (0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
    )
    out = printable(every)
    assert out.isprintable()
    assert printable(None) == "None" and printable(7) == "7"
