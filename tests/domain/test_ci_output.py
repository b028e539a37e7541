"""GitHub Actions text: no value becomes a workflow command, an output or markup."""

from __future__ import annotations

import re

import pytest

from shipmate.domain.ci_output import (
    error_command,
    escape_markdown,
    markdown_link,
    output_entry,
    summary_table,
)


def test_an_error_command_stays_on_one_line_whatever_the_message_holds() -> None:
    hostile = "bad env 'x'\n::add-mask::secret\r\n::warning::pwned 100%"
    line = error_command(hostile)
    assert "\n" not in line and "\r" not in line
    assert line == (
        "::error title=shipmate::bad env 'x'%0A::add-mask::secret%0D%0A::warning::pwned 100%25"
    )


def test_the_title_property_escapes_colons_and_commas() -> None:
    assert error_command("m", title="a:b,c") == "::error title=a%3Ab%2Cc::m"


def test_a_one_line_output_is_name_equals_value() -> None:
    assert output_entry("version", "1.4.0", "D") == "version=1.4.0\n"


def test_a_multiline_output_uses_the_heredoc_form() -> None:
    entry = output_entry("notes", "one\nsecond=injected", "ghadelimiter_abc")
    assert entry == "notes<<ghadelimiter_abc\none\nsecond=injected\nghadelimiter_abc\n"


def test_a_value_holding_the_delimiter_is_refused() -> None:
    with pytest.raises(ValueError):
        output_entry("notes", "a\nghadelimiter_abc\nb", "ghadelimiter_abc")


@pytest.mark.parametrize(
    "hostile",
    [
        "[click](https://evil.example)",
        "<img src=x onerror=alert(1)>",
        "www.evil.example",
        "https://evil.example/x",
        "a | b\n| c | d |",
        "**bold** _it_ `code` # heading",
        "line\u2028break\x1b[2J",
    ],
)
def test_markdown_values_render_as_their_text(hostile: str) -> None:
    shown = escape_markdown(hostile)
    assert "\n" not in shown and "\u2028" not in shown and "\x1b" not in shown
    # every ASCII punctuation character is escaped, so none can open markup
    assert not re.search(r"(?<!\\)[\[\]()<>|*_`#.:]", shown.replace("\\\\", ""))


def test_a_link_goes_only_to_http_and_cannot_be_ended_early() -> None:
    assert markdown_link("#4", "javascript:alert(1)") == "\\#4"
    link = markdown_link("#4", "https://ship.example/deployments/4) [x](https://evil")
    assert link == "[\\#4](https://ship.example/deployments/4%29%20%5Bx%5D%28https://evil)"


def test_a_summary_is_a_heading_and_a_table_without_the_missing_rows() -> None:
    text = summary_table(
        "shipmate: api 1.0.0 in prod: completed",
        [("Product", "api"), ("Commit", None)],
        link=("Deployment", "#3", "https://ship.example/deployments/3"),
    )
    assert text == (
        "### shipmate\\: api 1\\.0\\.0 in prod\\: completed\n\n| | |\n|---|---|\n"
        "| Product | api |\n| Deployment | [\\#3](https://ship.example/deployments/3) |\n\n"
    )
    assert "Deployment" not in summary_table("t", [], link=("Deployment", "#3", None))
