"""Where a project's version is written, and how to read it from the text.

Every function takes the TEXT of one file (or of ``git describe`` output) and returns
the version string, or ``None`` when that file simply does not state a version.
A file that is present but cannot be parsed raises :class:`InvalidInputError` whose
``field`` is the file name, so the user learns which file to fix.

Rules, per source:

- ``pyproject.toml``: ``[project].version``, else ``[tool.poetry].version``.  A project
  with ``dynamic = ["version"]`` and no static version yields ``None`` (not an error:
  the version lives elsewhere, e.g. in a git tag).
- ``package.json``: the top-level ``"version"``.  Strict JSON, as npm requires.
- ``deno.json`` / ``deno.jsonc``: the top-level ``"version"``; both accept ``//`` and
  ``/* */`` comments (not inside strings) and trailing commas, as Deno does.
- ``Cargo.toml``: ``[package].version``; ``version.workspace = true`` resolves to
  ``[workspace.package].version`` when that is in the same file, else ``None``.
- ``VERSION``: the first non-empty line, stripped.
- ``git describe --tags`` output: ``v1.2.3``, ``v1.2.3-4-gabc123``, ``release-1.2.3``
  all give ``1.2.3`` (the ``version_prefix``, ``v`` by default, and the ``-N-gSHA``
  suffix are dropped; a pre-release such as ``-rc.1`` is kept).  Output that holds no ``X.Y[.Z...]`` version
  gives ``None``.

A version value that is present but not a string (``version = 1.2`` in TOML) is
malformed; a blank one counts as absent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shipmate.domain.versionprefix import DEFAULT_VERSION_PREFIX, strip_version_prefix
from shipmate.errors import InvalidInputError

__all__ = [
    "GIT_SOURCE",
    "VERSION_FILES",
    "parse_cargo_toml",
    "parse_deno_json",
    "parse_git_describe",
    "parse_package_json",
    "parse_pyproject",
    "parse_version_file",
    "parse_version_text",
    "strip_jsonc",
    "validate_version_sources",
]

#: The source name that means "ask git" rather than "read a file".
GIT_SOURCE = "git"


def parse_pyproject(text: str, *, field: str = "pyproject.toml") -> str | None:
    """``[project].version``, else ``[tool.poetry].version``; ``None`` if neither."""
    data = _load_toml(text, field)
    project = _table(data, "project", field)
    version = _version_value(project, field, "[project].version")
    if version is not None:
        return version
    tool = _table(data, "tool", field)
    poetry = _table(tool, "poetry", field)
    return _version_value(poetry, field, "[tool.poetry].version")


def parse_package_json(text: str, *, field: str = "package.json") -> str | None:
    """The top-level ``"version"`` of a package.json (strict JSON)."""
    return _version_value(_load_json_object(text, field), field, '"version"')


def parse_deno_json(text: str, *, field: str = "deno.json") -> str | None:
    """The top-level ``"version"`` of deno.json or deno.jsonc (comments allowed)."""
    return _version_value(
        _load_json_object(strip_jsonc(text, field=field), field), field, '"version"'
    )


def parse_cargo_toml(text: str, *, field: str = "Cargo.toml") -> str | None:
    """``[package].version``, following ``version.workspace = true`` within the file."""
    data = _load_toml(text, field)
    package = _table(data, "package", field)
    raw = package.get("version")
    if isinstance(raw, dict):
        if raw.get("workspace") is not True:
            raise InvalidInputError(
                f"{field}: [package].version must be a string or {{ workspace = true }}",
                field=field,
            )
        workspace = _table(_table(data, "workspace", field), "package", field)
        return _version_value(workspace, field, "[workspace.package].version")
    return _version_value(package, field, "[package].version")


def parse_version_text(text: str) -> str | None:
    """A plain VERSION file: its first non-empty line, stripped."""
    for line in text.lstrip("\ufeff").splitlines():
        if line.strip():
            return line.strip()
    return None


_DESCRIBE_SUFFIX = re.compile(r"-\d+-g[0-9a-fA-F]+$")
_DESCRIBED_VERSION = re.compile(
    r"(?:^|[^0-9A-Za-z.])(?P<tagged>[A-Za-z]*"
    r"(?P<version>\d+\.\d+(?:\.\d+)*(?:-[0-9A-Za-z.\-]+)?(?:\+[0-9A-Za-z.\-]+)?))$"
)


def parse_git_describe(output: str, prefix: str = DEFAULT_VERSION_PREFIX) -> str | None:
    """The version in a ``git describe --tags`` line, or ``None`` if it holds none.

    The letters right before the version must be ``prefix`` (the ``version_prefix``
    setting, stripped by :func:`~shipmate.domain.versions.strip_version_prefix`) or
    nothing: ``v1.2.3`` and ``release-1.2.3`` hold ``1.2.3``, ``build1.2.3`` nothing.
    """
    lines = output.strip().splitlines()
    if not lines:
        return None
    described = lines[0].strip().removesuffix("-dirty")
    described = _DESCRIBE_SUFFIX.sub("", described)
    match = _DESCRIBED_VERSION.search(described)
    if match is None or strip_version_prefix(match["tagged"], prefix) != match["version"]:
        return None
    return match["version"]


_PARSERS: Mapping[str, Callable[..., str | None]] = {
    "pyproject.toml": parse_pyproject,
    "package.json": parse_package_json,
    "deno.json": parse_deno_json,
    "deno.jsonc": parse_deno_json,
    "Cargo.toml": parse_cargo_toml,
}

#: The file names :func:`parse_version_file` understands (matched on the last path part).
VERSION_FILES: tuple[str, ...] = (*_PARSERS, "VERSION")


def validate_version_sources(sources: Sequence[str]) -> tuple[str, ...]:
    """The sources as a tuple, or :class:`InvalidInputError` on ``version_sources``.

    Each must be ``git`` or a path whose base name is one of :data:`VERSION_FILES`;
    the list must not be empty.
    """
    if isinstance(sources, str):
        raise InvalidInputError(
            "version_sources must be a list of source names, not one string",
            field="version_sources",
        )
    if not sources:
        raise InvalidInputError(
            "version_sources must name at least one source", field="version_sources"
        )
    supported = ", ".join([*VERSION_FILES, GIT_SOURCE])
    for source in sources:
        if not isinstance(source, str) or (
            source != GIT_SOURCE and _base_name(source) not in VERSION_FILES
        ):
            raise InvalidInputError(
                f"version source {source!r} is not supported; use one of: {supported}",
                field="version_sources",
            )
    return tuple(sources)


def _base_name(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def parse_version_file(name: str, text: str) -> str | None:
    """Read the version from ``text``, choosing the parser by the file's base name.

    ``name`` may carry a directory (``api/package.json``); errors name it in full.
    An unsupported name raises :class:`InvalidInputError` on ``version_sources``.
    """
    base = _base_name(name)
    if base == "VERSION":
        return parse_version_text(text)
    parser = _PARSERS.get(base)
    if parser is None:
        supported = ", ".join([*VERSION_FILES, GIT_SOURCE])
        raise InvalidInputError(
            f"version source {name!r} is not supported; use one of: {supported}",
            field="version_sources",
        )
    return parser(text, field=name)


def strip_jsonc(text: str, *, field: str = "deno.jsonc") -> str:
    """JSON with comments and trailing commas turned into plain JSON.

    ``//`` line comments and ``/* */`` block comments are removed (replaced by a space,
    newlines kept so error positions stay right), and a comma followed only by
    whitespace or comments before ``}`` or ``]`` is dropped.  Nothing inside a string
    is touched.  An unterminated block comment raises :class:`InvalidInputError`.
    """

    def drop_comment(text: str, i: int, out: list[str]) -> int:
        if text.startswith("//", i):
            newline = text.find("\n", i)
            return len(text) if newline < 0 else newline
        if text.startswith("/*", i):
            close = text.find("*/", i + 2)
            if close < 0:
                line = text.count("\n", 0, i) + 1
                raise InvalidInputError(
                    f"{field}: unterminated /* comment starting on line {line}", field=field
                )
            out.append(" " + "\n" * text.count("\n", i, close))
            return close + 2
        out.append(text[i])
        return i + 1

    return _drop_trailing_commas(_rewrite_outside_strings(text, drop_comment))


def _rewrite_outside_strings(text: str, step: Callable[[str, int, list[str]], int]) -> str:
    """``text`` with its JSON strings copied as they are and the rest rewritten by ``step``.

    ``step(text, i, out)`` appends to ``out`` what replaces the text at ``i`` (outside
    any string) and returns the index where reading goes on.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == '"':
            end = _string_end(text, i)
            out.append(text[i:end])
            i = end
        else:
            i = step(text, i, out)
    return "".join(out)


def _string_end(text: str, start: int) -> int:
    """Index just past the JSON string opening at ``start`` (or the end of text)."""
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == '"':
            return i + 1
        elif text[i] == "\n":
            return i  # unterminated: let the JSON parser report it
        else:
            i += 1
    return len(text)


def _drop_trailing_commas(text: str) -> str:
    def drop_trailing_comma(text: str, i: int, out: list[str]) -> int:
        if text[i] == ",":
            j = i + 1
            while j < len(text) and text[j] in " \t\r\n":
                j += 1
            if j < len(text) and text[j] in "}]":
                return i + 1
        out.append(text[i])
        return i + 1

    return _rewrite_outside_strings(text, drop_trailing_comma)


def _load_toml(text: str, field: str) -> dict[str, Any]:
    import tomllib  # here: `version next --version` reads no file

    try:
        return tomllib.loads(text.lstrip("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"{field} is not valid TOML: {exc}", field=field) from None


def _load_json_object(text: str, field: str) -> Mapping[str, Any]:
    try:
        data = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"{field} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            field=field,
        ) from None
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"{field} must hold a JSON object, not {type(data).__name__}", field=field
        )
    return data


def _table(data: Mapping[str, Any], key: str, field: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise InvalidInputError(f"{field}: {key!r} must be a table", field=field)
    return value


def _version_value(table: Mapping[str, Any], field: str, where: str) -> str | None:
    value = table.get("version")
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{field}: {where} must be a string, not {type(value).__name__}", field=field
        )
    return value.strip() or None
