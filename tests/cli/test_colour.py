"""When the CLI colours its output: NO_COLOR, FORCE_COLOR, TERM=dumb, a terminal."""

from __future__ import annotations

import pytest

from shipmate.cli import render
from shipmate.cli.render import colour_wanted


@pytest.mark.parametrize(
    ("environ", "is_tty", "wanted"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"NO_COLOR": "1"}, True, False),
        ({"NO_COLOR": ""}, True, True),  # set but empty: the convention says ignore it
        ({"FORCE_COLOR": "1"}, False, True),  # a CI log that renders ANSI
        ({"FORCE_COLOR": ""}, False, False),
        ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, True, False),  # NO_COLOR wins
        ({"TERM": "dumb"}, True, False),
        ({"TERM": "dumb", "FORCE_COLOR": "1"}, True, True),
        ({"TERM": "xterm-256color"}, False, False),
    ],
)
def test_colour_follows_the_conventions(
    environ: dict[str, str], is_tty: bool, wanted: bool
) -> None:
    assert colour_wanted(environ, is_tty) is wanted


def test_force_color_colours_output_that_is_not_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert render.colour("ok", "32") == "\x1b[32mok\x1b[0m"
    monkeypatch.setenv("NO_COLOR", "1")
    assert render.colour("ok", "32") == "ok"
