"""Version strings: SemVer when they parse, opaque otherwise; full versions with builds.

A SemVer version orders by SemVer 2.0.0 precedence (build metadata ignored).  An
opaque version (a commit SHA, ``2026.11-rc``) orders by first appearance, which the
store keeps as a sequence number; this module only says which kind a string is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipmate.domain.inputs.names import charset_error, name_problem, required_text
from shipmate.domain.versionprefix import DEFAULT_VERSION_PREFIX, strip_version_prefix
from shipmate.errors import InvalidInputError

__all__ = [
    "DEFAULT_VERSION_PREFIX",
    "MAX_BUILD_NUMBER",
    "MAX_VERSION_LENGTH",
    "FullVersion",
    "SemVer",
    "format_full_version",
    "parse_full_version",
    "parse_semver",
    "reconcile_build_number",
    "strip_version_prefix",
    "validate_base_version",
    "validate_build_number",
    "validate_version",
]

MAX_VERSION_LENGTH = 100
#: Build numbers are INTEGER columns: 32 bits on PostgreSQL.
MAX_BUILD_NUMBER = 2**31 - 1

_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
#: What older versions accepted for an opaque version; lookups take it.
_LEGACY_OPAQUE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._\-+/:~]*$")
_FULL = re.compile(r"^(?P<version>.+)\+build\.(?P<build>[1-9]\d*)$")


@dataclass(frozen=True, slots=True)
class SemVer:
    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()

    def precedence_key(self) -> tuple[object, ...]:
        """A key that sorts versions by SemVer precedence, ignoring build metadata."""
        if not self.prerelease:
            pre: tuple[object, ...] = ((1,),)
        else:
            pre = (
                (0,),
                *(((0, int(p), "") if p.isdigit() else (1, 0, p)) for p in self.prerelease),
            )
        return (self.major, self.minor, self.patch, pre)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text


def parse_semver(text: str) -> SemVer | None:
    """Parse ``text`` as SemVer 2.0.0 (a leading ``v`` is allowed); None when it is not."""
    match = _SEMVER.match(text)
    if match is None:
        return None
    major, minor, patch, pre, build = match.groups()
    return SemVer(
        int(major),
        int(minor),
        int(patch),
        tuple(pre.split(".")) if pre else (),
        tuple(build.split(".")) if build else (),
    )


def validate_version(
    text: object, *, field: str = "version", strict_semver: bool = False, lookup: bool = False
) -> str:
    """Return the version string, or raise naming ``field`` and the problem.

    A version a write stores keeps the name charset (:mod:`shipmate.domain.inputs.names`):
    it becomes a folder and a path (``<releases>/<version>/bin/app``).  ``lookup``
    (a read naming a stored version) also takes what older versions accepted
    (``/ : ~``), so those rows stay reachable.
    """
    value = required_text(text, field=field, max_length=MAX_VERSION_LENGTH)
    if parse_semver(value) is not None:
        return value
    if strict_semver:
        raise InvalidInputError(
            f"{field} {value!r} is not a semantic version (X.Y.Z[-pre][+build])", field=field
        )
    if lookup:
        if not _LEGACY_OPAQUE.match(value):
            raise charset_error(field, value, "is not a version", what="version")
        return value
    problem = name_problem(value)
    if problem is not None:
        raise charset_error(field, value, problem, what="version")
    return value


def validate_base_version(
    text: object, *, field: str = "version", strict_semver: bool = False, lookup: bool = False
) -> str:
    """:func:`validate_version` for a version that gets a build number added to it.

    ``1.4.0+build.3`` is refused: a build of it would be ``1.4.0+build.3+build.1``.
    """
    value = validate_version(text, field=field, strict_semver=strict_semver, lookup=lookup)
    match = _FULL.match(value)
    if match is not None:
        raise InvalidInputError(
            f"{value} already carries build metadata; give the base version {match['version']}",
            field=field,
        )
    return value


@dataclass(frozen=True, slots=True)
class FullVersion:
    version: str
    build_number: int | None

    def __str__(self) -> str:
        return format_full_version(self.version, self.build_number)


def format_full_version(version: str, build_number: int | None) -> str:
    """``1.4.0`` and 7 give ``1.4.0+build.7``; no build gives the bare version."""
    return version if build_number is None else f"{version}+build.{build_number}"


def validate_build_number(value: object, *, field: str = "build") -> int:
    """A build number: a whole number from 1 to :data:`MAX_BUILD_NUMBER` (the column's range)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{field} must be a whole number of at least 1", field=field)
    if value > MAX_BUILD_NUMBER:
        raise InvalidInputError(
            f"{field} {value} is over the limit of {MAX_BUILD_NUMBER}", field=field
        )
    return value


def reconcile_build_number(
    named: int | None, given: object | None, *, given_as: str = "build"
) -> int | None:
    """The build number of a deployed version: the one its full version names
    (``named``) or, without one, the one ``given`` apart (``given_as`` names that
    input in the refusal when the two differ); validated, None without either."""
    if named is not None:
        if given is not None and given != named:
            raise InvalidInputError(
                f"version names build {named} but {given_as} is {given}", field="build"
            )
        given = named
    return None if given is None else validate_build_number(given)


def parse_full_version(text: str, *, field: str = "version") -> FullVersion:
    """Split ``1.4.0+build.7`` into version and build; a bare version has no build.

    A build number over :data:`MAX_BUILD_NUMBER` is an InvalidInputError naming
    ``field``; the digits are not converted first, so ten thousand of them cost nothing.
    """
    match = _FULL.match(text.strip())
    if match is None:
        return FullVersion(text.strip(), None)
    digits = match["build"]
    if len(digits) > len(str(MAX_BUILD_NUMBER)) or int(digits) > MAX_BUILD_NUMBER:
        raise InvalidInputError(
            f"{field} {text.strip()[:60]!r} names build {digits[:20]}"
            f"{'...' if len(digits) > 20 else ''}, over the limit of {MAX_BUILD_NUMBER}",
            field=field,
        )
    return FullVersion(match["version"], int(digits))
