"""The name charset, the injective folder name, and path templates' roots."""

from __future__ import annotations

import pytest

from shipmate.domain.inputs.fields import validate_lookup_name, validate_name
from shipmate.domain.inputs.names import name_problem, path_component, validate_new_name
from shipmate.domain.inputs.paths import escapes_root, template_root
from shipmate.domain.versions import validate_version
from shipmate.errors import InvalidInputError

GOOD = ["api", "my_app", "web-2", "billing.v2", "A1", "1.4.0", "1.4.0-rc.1+build.7", "v2"]
BAD = [
    ("1.0.0/../../evil", "'/'"),
    ("team/api", "'/'"),
    ("a\\b", "'\\\\'"),
    ("@scope/pkg", "'@'"),
    ("a:b", "':'"),
    ("a b", "' '"),
    ("tab\there", "control character"),
    ("nul\x00", "control character"),
    ("-rm", "starts with '-'"),
    (".hidden", "starts with '.'"),
    ("..", "starts with '.'"),
    ("_x", "starts with '_'"),
    ("caf\u00e9", "'\u00e9'"),
    ("1.0~rc1", "'~'"),
]


@pytest.mark.parametrize("name", GOOD)
def test_names_in_the_charset_are_kept(name: str) -> None:
    assert validate_new_name(name, field="product") == name
    assert validate_version(name) == name
    assert name_problem(name) is None


@pytest.mark.parametrize(("name", "why"), BAD)
@pytest.mark.parametrize("field", ["product", "environment"])
def test_names_outside_the_charset_are_refused_naming_field_and_rule(
    name: str, why: str, field: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_name(name, field=field)
    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field} ")
    assert why in caught.value.message
    assert "letters, digits and . _ - +" in caught.value.message
    assert (
        caught.value.details["rule"]
        == "letters, digits and . _ - +, starting with a letter or digit"
    )


@pytest.mark.parametrize(("name", "why"), BAD)
def test_versions_outside_the_charset_are_refused(name: str, why: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_version(name, field="target")
    assert caught.value.field == "target"
    assert "letters, digits and . _ - +" in caught.value.message


@pytest.mark.parametrize("name", ["team/api", "team@api", "a:b", "api"])
def test_lookups_still_take_what_older_versions_stored(name: str) -> None:
    assert validate_lookup_name(name, field="product") == name


@pytest.mark.parametrize("version", ["1.0.0/../../evil", "2026:1", "1.0~rc1"])
def test_version_lookups_take_old_opaque_versions(version: str) -> None:
    assert validate_version(version, lookup=True) == version


def test_folder_names_are_the_same_for_no_two_names() -> None:
    names = ["a/b", "a:b", "a_b", "a%2Fb", "a%3Ab", "a b", "a@b", ".", "..", "%2E", "a\u00e9"]
    folders = [path_component(n) for n in names]
    assert len(set(folders)) == len(names), folders
    assert folders[:3] == ["a%2Fb", "a%3Ab", "a_b"]
    assert path_component("..") == "%2E%2E"
    for folder in folders:
        assert "/" not in folder and folder not in {".", ".."}


@pytest.mark.parametrize("name", GOOD)
def test_folder_names_of_names_in_the_charset_are_the_names(name: str) -> None:
    assert path_component(name) == name


@pytest.mark.parametrize(
    ("template", "root"),
    [
        ("/srv/releases/{version}/bin/app", "/srv/releases/"),
        ("{state_dir}/{product}/x", "/state/"),
        ("{releases_dir}/{version}", "/r/"),
        ("rel/{version}", "rel/"),
        ("/opt/app-{version}/run", "/opt/"),
        ("--version={version}", None),
        ("{version}", None),
        ("/srv/static/no-names", None),
        ("/srv/{{version}}/{version}", "/srv/{version}/"),
    ],
)
def test_template_root(template: str, root: str | None) -> None:
    values = {"state_dir": "/state", "releases_dir": "/r", "version": "1.0.0"}
    assert template_root(template, values) == root


@pytest.mark.parametrize(
    ("root", "path", "escapes"),
    [
        ("/srv/releases/", "/srv/releases/1.0.0/bin/app", False),
        ("/srv/releases/", "/srv/releases/1.0.0/../../evil/bin/app", True),
        ("/srv/releases/", "/srv/releases/../releases/x", False),
        ("/srv/releases/", "/srv/releases-old/x", True),
        ("/srv/releases/", "/srv/releases/..", True),
        ("rel/", "rel/../../x", True),
        ("rel/", "rel/1.0.0", False),
        ("/", "/anything/at/all", False),
    ],
)
def test_escapes_root(root: str, path: str, escapes: bool) -> None:
    assert escapes_root(root, path) is escapes


def test_every_charset_refusal_names_the_field_the_value_and_the_rule() -> None:
    rule = "letters, digits and . _ - +, starting with a letter or digit"
    cases = [
        (lambda: validate_new_name("a b", field="product"), "product 'a b' contains ' '", "name"),
        (lambda: validate_lookup_name("a b", field="env"), "env 'a b' is not a name", "name"),
        (lambda: validate_version("1.0 x"), "version '1.0 x' contains ' '", "version"),
        (
            lambda: validate_version("1.0 x", lookup=True),
            "version '1.0 x' is not a version",
            "version",
        ),
    ]
    for call, start, what in cases:
        with pytest.raises(InvalidInputError) as err:
            call()
        assert err.value.message == f"{start}: a {what} may contain only {rule}"
        assert err.value.details["rule"] == rule
