"""Reading a project's version from file text and from ``git describe`` output."""

from __future__ import annotations

import pytest

from shipmate.domain.versionfiles import (
    VERSION_FILES,
    parse_cargo_toml,
    parse_deno_json,
    parse_git_describe,
    parse_package_json,
    parse_pyproject,
    parse_version_file,
    parse_version_text,
    strip_jsonc,
    validate_version_sources,
)
from shipmate.errors import InvalidInputError

# --- pyproject.toml ---------------------------------------------------------------


def test_pyproject_project_version() -> None:
    text = '[project]\nname = "app"\nversion = "1.4.0"\n'
    assert parse_pyproject(text) == "1.4.0"


def test_pyproject_poetry_version() -> None:
    text = '[tool.poetry]\nname = "app"\nversion = "0.9.1"\n'
    assert parse_pyproject(text) == "0.9.1"


def test_pyproject_project_wins_over_poetry() -> None:
    text = '[project]\nversion = "2.0.0"\n[tool.poetry]\nversion = "0.1.0"\n'
    assert parse_pyproject(text) == "2.0.0"


def test_pyproject_dynamic_version_is_none_not_error() -> None:
    text = '[project]\nname = "app"\ndynamic = ["version"]\n[tool.setuptools_scm]\n'
    assert parse_pyproject(text) is None


def test_pyproject_without_version() -> None:
    assert parse_pyproject("[tool.ruff]\nline-length = 100\n") is None
    assert parse_pyproject("") is None


def test_pyproject_invalid_toml_names_the_file() -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_pyproject('[project\nversion = "1"\n')
    assert err.value.field == "pyproject.toml"
    assert "not valid TOML" in err.value.message


def test_pyproject_non_string_version_is_malformed() -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_pyproject("[project]\nversion = 1.2\n")
    assert err.value.field == "pyproject.toml"
    assert "[project].version must be a string" in err.value.message


def test_pyproject_project_not_a_table() -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_pyproject('project = "x"\n')
    assert err.value.field == "pyproject.toml"


def test_blank_version_counts_as_absent() -> None:
    assert parse_pyproject('[project]\nversion = "  "\n') is None


# --- package.json -----------------------------------------------------------------


def test_package_json_version() -> None:
    assert parse_package_json('{"name": "web", "version": "3.1.4"}') == "3.1.4"


def test_package_json_without_version() -> None:
    assert parse_package_json('{"name": "web", "private": true}') is None


def test_package_json_with_bom() -> None:
    assert parse_package_json('\ufeff{"version": "1.0.0"}') == "1.0.0"


def test_package_json_invalid_json() -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_package_json('{"version": "1.0.0",}')
    assert err.value.field == "package.json"
    assert "not valid JSON" in err.value.message
    assert "line 1" in err.value.message


def test_package_json_rejects_comments() -> None:
    with pytest.raises(InvalidInputError):
        parse_package_json('{\n// no\n"version": "1.0.0"}')


def test_package_json_must_be_object() -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_package_json('["1.0.0"]')
    assert "must hold a JSON object" in err.value.message


# --- deno.json / deno.jsonc -------------------------------------------------------


def test_deno_json_version() -> None:
    assert parse_deno_json('{"name": "@bloqr/backend", "version": "0.11.3"}') == "0.11.3"


DENO_JSONC = """\
// top comment with a "quote"
{
  /* block
     comment */
  "name": "@x/y", // trailing comment
  "url": "https://example.com/a//b",  // the // in the string is kept
  "glob": "src/**/*.ts",
  "version": "0.12.0",
  "tasks": {
    "dev": "deno run -A main.ts",
  },
  "exclude": ["dist", "/* not a comment */",],
}
"""


def test_deno_jsonc_comments_and_trailing_commas() -> None:
    assert parse_deno_json(DENO_JSONC, field="deno.jsonc") == "0.12.0"


def test_strip_jsonc_keeps_strings_intact() -> None:
    import json

    data = json.loads(strip_jsonc(DENO_JSONC))
    assert data["url"] == "https://example.com/a//b"
    assert data["glob"] == "src/**/*.ts"
    assert data["exclude"] == ["dist", "/* not a comment */"]
    assert data["tasks"] == {"dev": "deno run -A main.ts"}


def test_strip_jsonc_escaped_quote_in_string() -> None:
    import json

    text = '{"a": "say \\"hi\\" // not a comment", "version": "1.0.0",}'
    assert json.loads(strip_jsonc(text)) == {
        "a": 'say "hi" // not a comment',
        "version": "1.0.0",
    }


def test_strip_jsonc_comma_in_string_before_brace_is_kept() -> None:
    import json

    assert json.loads(strip_jsonc('{"a": ", }"}')) == {"a": ", }"}


def test_deno_json_unterminated_block_comment() -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_deno_json('{\n"version": "1.0.0"\n/* oops\n}', field="deno.jsonc")
    assert err.value.field == "deno.jsonc"
    assert "unterminated /* comment starting on line 3" in err.value.message


def test_deno_json_invalid_reports_line() -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_deno_json('{\n  // c\n  "version": 1.0.0\n}', field="deno.json")
    assert err.value.field == "deno.json"
    assert "line 3" in err.value.message


# --- Cargo.toml -------------------------------------------------------------------


def test_cargo_package_version() -> None:
    assert parse_cargo_toml('[package]\nname = "svc"\nversion = "0.3.7"\n') == "0.3.7"


def test_cargo_workspace_inherited_version() -> None:
    text = (
        '[workspace]\nmembers = ["svc"]\n[workspace.package]\nversion = "5.0.0"\n'
        '[package]\nname = "svc"\nversion.workspace = true\n'
    )
    assert parse_cargo_toml(text) == "5.0.0"


def test_cargo_workspace_version_defined_elsewhere_is_none() -> None:
    text = '[package]\nname = "svc"\nversion = { workspace = true }\n'
    assert parse_cargo_toml(text) is None


def test_cargo_without_package_is_none() -> None:
    assert parse_cargo_toml('[workspace]\nmembers = ["a"]\n') is None


def test_cargo_bad_version_table() -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_cargo_toml("[package]\nversion = { workspace = false }\n")
    assert err.value.field == "Cargo.toml"


def test_cargo_invalid_toml() -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_cargo_toml("[package]\nversion = \n")
    assert err.value.field == "Cargo.toml"


# --- VERSION ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3\n", "1.2.3"),
        ("\n\n  2.0.0-rc.1  \nignored\n", "2.0.0-rc.1"),
        ("\ufeff7.0\r\n", "7.0"),
        ("", None),
        ("  \n\t\n", None),
    ],
)
def test_version_text(text: str, expected: str | None) -> None:
    assert parse_version_text(text) == expected


# --- git describe -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("v1.2.3\n", "1.2.3"),
        ("1.2.3", "1.2.3"),
        ("v1.2.3-4-gabc123", "1.2.3"),
        ("release-1.2.3", "1.2.3"),
        ("release-1.2.3-12-g0123abcd", "1.2.3"),
        ("v2.0.0-rc.1", "2.0.0-rc.1"),
        ("v2.0.0-rc.1-3-gdeadbee", "2.0.0-rc.1"),
        ("v1.2.3-4-gabc123-dirty", "1.2.3"),
        ("api/v0.11.3", "0.11.3"),
        ("v1.0.0+build.7", "1.0.0+build.7"),
        ("2024.10", "2024.10"),
        ("latest", None),
        ("abc1234", None),
        ("v2", None),
        ("deploy-prod-3-gabc1234", None),
        ("", None),
        ("  \n", None),
    ],
)
def test_git_describe(output: str, expected: str | None) -> None:
    assert parse_git_describe(output) == expected


@pytest.mark.parametrize(
    ("output", "prefix", "expected"),
    [
        ("rel1.2.3", "rel", "1.2.3"),
        ("api/rel1.2.3-4-gabc123", "rel", "1.2.3"),
        ("v1.2.3", "rel", None),
        ("v1.2.3", "", None),
        ("1.2.3", "", "1.2.3"),
        ("release-1.2.3", "", "1.2.3"),
        ("build1.2.3", "v", None),
    ],
)
def test_git_describe_strips_the_configured_prefix(
    output: str, prefix: str, expected: str | None
) -> None:
    assert parse_git_describe(output, prefix) == expected


# --- dispatcher -------------------------------------------------------------------


def test_dispatcher_routes_by_file_name() -> None:
    assert parse_version_file("pyproject.toml", '[project]\nversion = "1.0.0"\n') == "1.0.0"
    assert parse_version_file("package.json", '{"version": "2.0.0"}') == "2.0.0"
    assert parse_version_file("deno.json", '{// c\n"version": "3.0.0",}') == "3.0.0"
    assert parse_version_file("deno.jsonc", '{"version": "4.0.0"}') == "4.0.0"
    assert parse_version_file("Cargo.toml", '[package]\nversion = "5.0.0"\n') == "5.0.0"
    assert parse_version_file("VERSION", "6.0.0\n") == "6.0.0"
    assert set(VERSION_FILES) == {
        "pyproject.toml",
        "package.json",
        "deno.json",
        "deno.jsonc",
        "Cargo.toml",
        "VERSION",
    }


def test_dispatcher_accepts_a_directory_and_names_it_in_errors() -> None:
    assert parse_version_file("services/web/package.json", '{"version": "1.1.0"}') == "1.1.0"
    with pytest.raises(InvalidInputError) as err:
        parse_version_file("services/web/package.json", "{")
    assert err.value.field == "services/web/package.json"
    assert err.value.message.startswith("services/web/package.json is not valid JSON")


def test_dispatcher_unknown_file() -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_version_file("setup.py", "version='1'")
    assert err.value.field == "version_sources"
    assert "'setup.py' is not supported" in err.value.message
    assert "pyproject.toml" in err.value.message


def test_validate_version_sources() -> None:
    assert validate_version_sources(["git", "app/package.json", "VERSION"]) == (
        "git",
        "app/package.json",
        "VERSION",
    )
    for bad in ([], ["pom.xml"], "git"):
        with pytest.raises(InvalidInputError) as err:
            validate_version_sources(bad)
        assert err.value.field == "version_sources"
