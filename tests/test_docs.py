"""The docs cannot drift from the code.

Each ``*_problems`` function compares one page of ``docs/`` with the code it describes
and returns a list of problems (empty when they agree).  The first group of tests
asserts there are none; the second group feeds the same functions a page with one
thing removed or changed, to prove each check can fail.

- ``docs/cli.md``: every command and subcommand of ``build_parser()`` (walked
  recursively, so a command added later fails here until documented) has a section
  headed ``shipmate <command>`` in backticks; every long flag and positional has a
  row in that section's table; a row for a flag the parser no longer has fails; a
  non-trivial default must be shown; a required flag must say so.
- ``docs/errors.md``: every ``ShipmateError`` class has a row with its parent, code,
  CLI exit code and HTTP status.
- ``docs/configuration.md``: every ``Settings`` field has a row naming its
  ``SHIPMATE_*`` variable and default; every ``SHIPMATE_*`` name in config.py appears.
- ``docs/concepts.md``: every status alias sits in the row of its status; the
  transition, environment-kind, version and time tables agree with the functions.

Tables the checks read are marked in the Markdown with ``<!-- test_docs: NAME -->``.
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import re
from dataclasses import MISSING, fields
from pathlib import Path

import pytest

import shipmate.config
import shipmate.errors
from shipmate.cli import build_parser
from shipmate.config import SECTIONS, Settings
from shipmate.domain.environments import EnvironmentKind, infer_kind
from shipmate.domain.inputs.fields import format_time, parse_time
from shipmate.domain.lifecycle import STATUS_ALIASES, DeploymentKind, Status, check_transition
from shipmate.domain.versions import parse_semver, validate_version
from shipmate.errors import IllegalTransitionError, InvalidInputError, ShipmateError

DOCS = Path(__file__).resolve().parents[1] / "docs"
CONFIG_SOURCE = Path(inspect.getfile(shipmate.config))

_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_COMMAND_HEADING = re.compile(r"^`(shipmate(?: [^`]*)?)`")
_SEPARATOR_CELL = re.compile(r"^:?-{3,}:?$")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_CODE = re.compile(r"`([^`]+)`")


def read_doc(name: str) -> str:
    path = DOCS / name
    assert path.is_file(), f"{path} is missing"
    return path.read_text(encoding="utf-8")


# -- Markdown helpers ---------------------------------------------------------------


def _prose_lines(text: str) -> list[str]:
    """The lines of ``text`` with fenced code blocks blanked out (kept as ``""``)."""
    out: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            out.append("")
            continue
        out.append("" if fenced else line)
    return out


def _cells(line: str) -> list[str] | None:
    """The cells of a table row, or None for a non-row or a separator row."""
    stripped = line.strip()
    if not stripped.startswith("|"):
        return None
    cells = [c.strip() for c in _CELL_SPLIT.split(stripped.strip("|"))]
    if all(_SEPARATOR_CELL.match(c) for c in cells if c):
        return None
    return cells


def _keys(cell: str) -> list[str]:
    """First word of each backticked item: ```--env ENV`, `-h``` gives --env, -h."""
    return [item.split()[0] for item in _CODE.findall(cell) if item.split()]


def command_sections(text: str) -> dict[tuple[str, ...], list[str]]:
    """Sections headed ```shipmate ...```, keyed by the command path, with their lines.

    A section runs to the next heading of any level.  A path given twice maps to
    ``["<duplicate>"]`` so the caller can report it.
    """
    sections: dict[tuple[str, ...], list[str]] = {}
    current: list[str] | None = None
    for line in _prose_lines(text):
        heading = _HEADING.match(line)
        if heading:
            command = _COMMAND_HEADING.match(heading.group(2))
            if command is None:
                current = None
                continue
            path = tuple(command.group(1).split()[1:])
            current = [] if path not in sections else ["<duplicate>"]
            sections[path] = current
            continue
        if current is not None:
            current.append(line)
    return sections


def marked_table(text: str, name: str) -> list[list[str]] | None:
    """The body rows of the table after ``<!-- test_docs: name -->`` (header dropped)."""
    lines = _prose_lines(text)
    marker = f"<!-- test_docs: {name} -->"
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == marker)
    except StopIteration:
        return None
    rows: list[list[str]] = []
    seen_table = False
    for line in lines[start + 1 :]:
        if not line.strip().startswith("|"):
            if seen_table:
                break
            continue
        seen_table = True
        cells = _cells(line)
        if cells is not None:
            rows.append(cells)
    return rows[1:]  # the first row is the header


def _rows_by_key(rows: list[list[str]]) -> dict[str, list[str]]:
    return {keys[0]: row for row in rows if (keys := _keys(row[0]))}


# -- docs/cli.md ---------------------------------------------------------------------


def walk_commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """``parser`` and every subcommand under it, depth first, with their paths."""
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.extend(walk_commands(sub, (*path, name)))
    return found


def _documented_arguments(parser: argparse.ArgumentParser, *, root: bool) -> list[argparse.Action]:
    arguments = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        if isinstance(action, argparse._HelpAction) and not root:
            continue  # every subcommand has --help; documented once, with the global options
        arguments.append(action)
    return arguments


def _argument_names(action: argparse.Action) -> list[str]:
    if action.option_strings:
        return [o for o in action.option_strings if o.startswith("--")]
    return [str(action.metavar or action.dest)]


def _shown_default(action: argparse.Action) -> str | None:
    """The default a reader must be told about, or None when there is nothing to say."""
    if isinstance(action, argparse._StoreConstAction | argparse._HelpAction):
        return None  # store_true/false and friends: "off" is the default
    if isinstance(action, argparse._VersionAction) or action.required:
        return None
    default = action.default
    if default is None or default is argparse.SUPPRESS or default in ([], False, ""):
        return None
    return str(default)


def cli_problems(doc: str, parser: argparse.ArgumentParser) -> list[str]:
    problems: list[str] = []
    sections = command_sections(doc)
    commands = walk_commands(parser)
    known_paths = {path for path, _ in commands}
    for path, sub in commands:
        title = " ".join(("shipmate", *path))
        lines = sections.get(path)
        if lines is None:
            problems.append(f"docs/cli.md has no section headed `{title}`")
            continue
        if lines[:1] == ["<duplicate>"]:
            problems.append(f"docs/cli.md has two sections headed `{title}`")
            continue
        rows = [cells for line in lines if (cells := _cells(line)) is not None]
        by_name = {key: row for row in rows for key in _keys(row[0])}
        arguments = _documented_arguments(sub, root=not path)
        valid = {o for a in sub._actions for o in a.option_strings} | {
            n for a in arguments for n in _argument_names(a)
        }
        for action in arguments:
            for name in _argument_names(action):
                row = by_name.get(name)
                if row is None:
                    problems.append(f"`{title}`: `{name}` has no row in its table in docs/cli.md")
                    continue
                text = " | ".join(row)
                default = _shown_default(action)
                if default is not None and f"`{default}`" not in text:
                    problems.append(
                        f"`{title}`: the row of `{name}` does not show its default `{default}`"
                    )
                if action.option_strings and action.required and "required" not in text:
                    problems.append(f"`{title}`: the row of `{name}` does not say it is required")
        for name in by_name:
            if name not in valid:
                problems.append(
                    f"`{title}`: docs/cli.md documents `{name}`, which it does not have"
                )
    for path in sections:
        if path not in known_paths:
            title = " ".join(("shipmate", *path))
            problems.append(f"docs/cli.md has a section for `{title}`, which is not a command")
    exit_rows = marked_table(doc, "exit-codes")
    if exit_rows is None:
        problems.append("docs/cli.md has no table marked <!-- test_docs: exit-codes -->")
    else:
        by_code = {keys[0]: " | ".join(row) for row in exit_rows if (keys := _keys(row[0]))}
        for cls in error_classes():
            row_text = by_code.get(str(cls.exit_code))
            if row_text is None:
                problems.append(f"docs/cli.md: exit code {cls.exit_code} has no row")
            elif f"`{cls.code}`" not in row_text:
                problems.append(
                    f"docs/cli.md: the row of exit code {cls.exit_code} does not name `{cls.code}`"
                )
        if "0" not in by_code:
            problems.append("docs/cli.md: exit code 0 has no row")
    return problems


# -- docs/errors.md -------------------------------------------------------------------


def error_classes() -> list[type[ShipmateError]]:
    """Every ShipmateError class defined in shipmate.errors, the root included."""
    return [
        obj
        for obj in vars(shipmate.errors).values()
        if isinstance(obj, type)
        and issubclass(obj, ShipmateError)
        and obj.__module__ == shipmate.errors.__name__
    ]


def _first_int(cell: str) -> int | None:
    match = re.search(r"\d+", cell)
    return None if match is None else int(match.group())


def errors_problems(doc: str) -> list[str]:
    rows = marked_table(doc, "errors")
    if rows is None:
        return ["docs/errors.md has no table marked <!-- test_docs: errors -->"]
    problems: list[str] = []
    by_class = _rows_by_key(rows)
    classes = {cls.__name__: cls for cls in error_classes()}
    for name, cls in classes.items():
        row = by_class.get(name)
        if row is None:
            problems.append(f"docs/errors.md: `{name}` ({cls.code}) has no row")
            continue
        if len(row) < 5:
            problems.append(f"docs/errors.md: the row of `{name}` needs 5 cells")
            continue
        parent = "" if cls is ShipmateError else cls.__mro__[1].__name__
        if _keys(row[1])[:1] != ([parent] if parent else []):
            problems.append(f"docs/errors.md: `{name}` should name its parent `{parent}`")
        if _keys(row[2]) != [cls.code]:
            problems.append(f"docs/errors.md: `{name}` should have code `{cls.code}`")
        if _first_int(row[3]) != cls.exit_code:
            problems.append(f"docs/errors.md: `{name}` should have CLI exit {cls.exit_code}")
        if _first_int(row[4]) != cls.http_status:
            problems.append(f"docs/errors.md: `{name}` should have HTTP {cls.http_status}")
        if f"`{cls.code}`" not in doc.replace(" | ".join(row), ""):
            problems.append(f"docs/errors.md: `{cls.code}` is not explained below the table")
    for name in by_class:
        if name not in classes:
            problems.append(f"docs/errors.md documents `{name}`, which shipmate.errors lacks")
    return problems


# -- docs/configuration.md ----------------------------------------------------------


def config_problems(doc: str, config_source: str) -> list[str]:
    rows = marked_table(doc, "settings")
    if rows is None:
        return ["docs/configuration.md has no table marked <!-- test_docs: settings -->"]
    problems: list[str] = []
    by_field = _rows_by_key(rows)
    env_of = {key: name for name, key in shipmate.config._ENV_KEYS.items()}
    for f in fields(Settings):
        row = by_field.get(f.name)
        if row is None:
            problems.append(f"docs/configuration.md: setting `{f.name}` has no row")
            continue
        text = " | ".join(row)
        env = env_of.get(f.name)
        if env is not None and f"`{env}`" not in text:
            problems.append(f"docs/configuration.md: the row of `{f.name}` should name `{env}`")
        default = f.default
        if isinstance(default, bool) and f"`{str(default).lower()}`" not in text:
            problems.append(
                f"docs/configuration.md: the row of `{f.name}` should show `{str(default).lower()}`"
            )
        if isinstance(default, tuple):
            for item in default:
                if f"`{item}`" not in text:
                    problems.append(
                        f"docs/configuration.md: the default of `{f.name}` lacks `{item}`"
                    )
        if f.default is MISSING and f.default_factory is MISSING:
            problems.append(f"Settings.{f.name} has no default; document what is required")
    known = {f.name for f in fields(Settings)}
    for name in by_field:
        if name not in known:
            problems.append(f"docs/configuration.md documents `{name}`, which Settings lacks")
    for env in sorted(set(re.findall(r"SHIPMATE_[A-Z0-9_]+", config_source))):
        if f"`{env}`" not in doc:
            problems.append(f"docs/configuration.md does not mention `{env}` (read by config.py)")
    for section in sorted(SECTIONS):
        if f"`[{section}]`" not in doc:
            problems.append(f"docs/configuration.md does not mention the table `[{section}]`")
    return problems


# -- docs/concepts.md ---------------------------------------------------------------


def concepts_problems(doc: str) -> list[str]:
    problems: list[str] = []

    aliases = marked_table(doc, "status-aliases")
    if aliases is None:
        problems.append("docs/concepts.md has no table marked <!-- test_docs: status-aliases -->")
    else:
        by_status = _rows_by_key(aliases)
        for alias, status in STATUS_ALIASES.items():
            row = by_status.get(status.value)
            if row is None:
                problems.append(f"docs/concepts.md: status `{status.value}` has no alias row")
            elif alias != status.value and alias not in _keys(" ".join(row[1:])):
                problems.append(
                    f"docs/concepts.md: alias `{alias}` is missing from the row of `{status}`"
                )
        for status_name, row in by_status.items():
            for alias in _keys(" ".join(row[1:])):
                if STATUS_ALIASES.get(alias) != STATUS_ALIASES.get(status_name):
                    problems.append(
                        f"docs/concepts.md: `{alias}` is listed under `{status_name}` "
                        f"but means {STATUS_ALIASES.get(alias)}"
                    )

    transitions = marked_table(doc, "transitions")
    if transitions is None:
        problems.append("docs/concepts.md has no table marked <!-- test_docs: transitions -->")
    else:
        by_from = _rows_by_key(transitions)
        for current in Status:
            row = by_from.get(current.value)
            if row is None:
                problems.append(f"docs/concepts.md: no transition row for `{current}`")
                continue
            documented = set(_keys(" ".join(row[1:])))
            for new in Status:
                if new == current:
                    continue
                try:
                    check_transition(current, new)
                    allowed = True
                except IllegalTransitionError:
                    allowed = False
                if allowed != (new.value in documented):
                    problems.append(
                        f"docs/concepts.md: {current} -> {new} is "
                        f"{'allowed' if allowed else 'refused'} by the code"
                    )

    kinds = marked_table(doc, "environment-kinds")
    if kinds is None:
        problems.append(
            "docs/concepts.md has no table marked <!-- test_docs: environment-kinds -->"
        )
    else:
        seen = set()
        for row in kinds:
            name = _keys(row[0])[0]
            expected = row[1].strip()
            seen.add(expected)
            if infer_kind(name).value != expected:
                problems.append(
                    f"docs/concepts.md: `{name}` is inferred as {infer_kind(name)}, not {expected}"
                )
        for kind in EnvironmentKind:
            if kind.value not in seen:
                problems.append(f"docs/concepts.md: no environment-kind example of {kind}")

    versions = marked_table(doc, "versions")
    if versions is None:
        problems.append("docs/concepts.md has no table marked <!-- test_docs: versions -->")
    else:
        for row in versions:
            text = _CODE.findall(row[0])[0]
            expected = row[1].strip().lower()
            try:
                validate_version(text)
                actual = "semver" if parse_semver(text) is not None else "opaque"
            except InvalidInputError:
                actual = "refused"
            if actual != expected:
                problems.append(f"docs/concepts.md: version `{text}` is {actual}, not {expected}")

    for chain in (c for c in _CODE.findall(doc) if " < " in c):
        parsed = [parse_semver(v.strip()) for v in chain.split(" < ")]
        keys = [p.precedence_key() for p in parsed if p is not None]
        if len(keys) != len(parsed) or any(a >= b for a, b in itertools.pairwise(keys)):
            problems.append(f"docs/concepts.md: `{chain}` is not in SemVer precedence order")

    times = marked_table(doc, "times")
    if times is None:
        problems.append("docs/concepts.md has no table marked <!-- test_docs: times -->")
    else:
        for row in times:
            given = _CODE.findall(row[0])[0]
            stored = _CODE.findall(row[1])
            got: str | None
            try:
                got = format_time(parse_time(given, field="time"))
            except InvalidInputError:
                got = "refused"
            expected = stored[0] if stored else row[1].strip()
            if got != expected:
                problems.append(f"docs/concepts.md: time `{given}` gives {got}, not {expected}")

    for value in [*Status, *DeploymentKind, *EnvironmentKind]:
        if f"`{value.value}`" not in doc:
            problems.append(f"docs/concepts.md never names `{value.value}`")
    return problems


# -- the docs agree with the code ------------------------------------------------------


def test_cli_reference_matches_the_parser() -> None:
    problems = cli_problems(read_doc("cli.md"), build_parser())
    assert problems == [], "\n".join(problems)


def test_every_error_is_documented() -> None:
    problems = errors_problems(read_doc("errors.md"))
    assert problems == [], "\n".join(problems)


def test_every_setting_is_documented() -> None:
    problems = config_problems(
        read_doc("configuration.md"), CONFIG_SOURCE.read_text(encoding="utf-8")
    )
    assert problems == [], "\n".join(problems)


def test_concepts_agree_with_the_rules() -> None:
    problems = concepts_problems(read_doc("concepts.md"))
    assert problems == [], "\n".join(problems)


def test_the_parser_walk_sees_nested_subcommands() -> None:
    paths = {path for path, _ in walk_commands(build_parser())}
    assert {(), ("record",), ("version", "next"), ("db", "check")} <= paths


# -- each check can fail -----------------------------------------------------------------


def _without(text: str, old: str, new: str = "") -> str:
    assert old in text, f"the mutation needs {old!r} in the page"
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "| `--limit N` | rows per page, 1 to 500 | `20` |\n",
            "",
            "`shipmate history`: `--limit` has no row",
        ),
        (
            "| `--limit N` | rows per page, 1 to 500 | `20` |",
            "| `--limit N` | rows per page, 1 to 500 | `50` |",
            "the row of `--limit` does not show its default `20`",
        ),
        (
            "| `--env ENV` | environment name (required) | |",
            "| `--env ENV` | environment name | |",
            "the row of `--env` does not say it is required",
        ),
        (
            "| `--cursor CURSOR` |",
            "| `--bogus` | gone | |\n| `--cursor CURSOR` |",
            "`shipmate history`: docs/cli.md documents `--bogus`",
        ),
        ("### `shipmate db check`", "### db check", "no section headed `shipmate db check`"),
        ("## `shipmate demo`", "## `shipmate demo`\n\n## `shipmate demo`", "two sections"),
        ("## `shipmate demo`", "## `shipmate frob`\n\n## `shipmate demo`", "`shipmate frob`"),
    ],
)
def test_cli_check_notices(old: str, new: str, expected: str) -> None:
    problems = cli_problems(_without(read_doc("cli.md"), old, new), build_parser())
    assert any(expected in p for p in problems), problems


def test_cli_check_notices_a_new_subcommand() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    later = subparsers.add_parser("frobnicate")
    later.add_subparsers().add_parser("twice").add_argument("--wibble")
    problems = cli_problems(read_doc("cli.md"), parser)
    assert "docs/cli.md has no section headed `shipmate frobnicate`" in problems
    assert "docs/cli.md has no section headed `shipmate frobnicate twice`" in problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "| `VersionCommitConflictError` | `ConflictError` | `version_commit_conflict` | 1 | 409 |",
            "",
            "`VersionCommitConflictError` (version_commit_conflict) has no row",
        ),
        (
            "| `GateBlockedError` | `ShipmateError` | `gate_blocked` | 3 |",
            "| `GateBlockedError` | `ShipmateError` | `gate_blocked` | 1 |",
            "`GateBlockedError` should have CLI exit 3",
        ),
        (
            "| `NotFoundError` | `ShipmateError` | `not_found` | 1 | 404 |",
            "| `NotFoundError` | `ShipmateError` | `not_found` | 1 | 400 |",
            "`NotFoundError` should have HTTP 404",
        ),
        (
            "| `SwitchError` | `DeployError` |",
            "| `SwitchError` | `ShipmateError` |",
            "`SwitchError` should name its parent `DeployError`",
        ),
    ],
)
def test_errors_check_notices(old: str, new: str, expected: str) -> None:
    problems = errors_problems(_without(read_doc("errors.md"), old, new))
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("| `token` | `SHIPMATE_TOKEN` |", "| `token` | none |", "should name `SHIPMATE_TOKEN`"),
        (
            "| `product` | `SHIPMATE_PRODUCT`",
            "| product | `SHIPMATE_PRODUCT`",
            "`product` has no row",
        ),
        ("`deno.jsonc`, `Cargo.toml`", "`Cargo.toml`", "lacks `deno.jsonc`"),
    ],
)
def test_config_check_notices(old: str, new: str, expected: str) -> None:
    source = CONFIG_SOURCE.read_text(encoding="utf-8")
    problems = config_problems(_without(read_doc("configuration.md"), old, new), source)
    assert any(expected in p for p in problems), problems


def test_config_check_notices_a_new_environment_variable() -> None:
    source = CONFIG_SOURCE.read_text(encoding="utf-8") + '\n"SHIPMATE_SOMETHING_NEW"\n'
    problems = config_problems(read_doc("configuration.md"), source)
    assert any("`SHIPMATE_SOMETHING_NEW`" in p for p in problems), problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("`abort`, `cancelled`, ", "`abort`, ", "alias `cancelled` is missing"),
        (
            "| `completed` | `rolled_back` |",
            "| `completed` | `rolled_back`, `started` |",
            "completed -> started is refused",
        ),
        ("| `canary` | dev |", "| `canary` | production |", "`canary` is inferred as dev"),
        ("| `1.0` | opaque |", "| `1.0` | SemVer |", "version `1.0` is opaque, not semver"),
        (
            "| `2026-11-22T10:00:00` | refused |",
            "| `2026-11-22T10:00:00` | `2026-11-22T10:00:00.000Z` |",
            "gives refused",
        ),
        ("1.0.0-beta < 1.0.0-rc.1", "1.0.0-rc.1 < 1.0.0-beta", "not in SemVer precedence order"),
    ],
)
def test_concepts_check_notices(old: str, new: str, expected: str) -> None:
    problems = concepts_problems(_without(read_doc("concepts.md"), old, new))
    assert any(expected in p for p in problems), problems
