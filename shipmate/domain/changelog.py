"""Changelogs: commits grouped by Conventional Commit type.

Pure: the caller lists the commits (``git log`` between two deployed commits)
and gets groups to render.  Nothing here runs git.

Parsing a subject
=================

``type(scope)!: description`` as in Conventional Commits 1.0.0:

* ``type`` is one of the known types below, in any case (``Feat`` is
  ``feat``); a subject whose prefix is not a known type (``wip: x``,
  ``Merge branch 'x'``) is *non-conventional* and goes to **Other** with its
  whole subject as the description.
* ``(scope)`` is optional; an empty ``()`` means no scope.
* ``!`` before the colon marks a breaking change.
* The colon may be followed by spaces; the description must not be empty.
* git's own revert subject, ``Revert "..."``, counts as type ``revert``.

A commit is *breaking* when its subject has ``!`` or its body has a footer
line starting ``BREAKING CHANGE:`` or ``BREAKING-CHANGE:`` (upper case, as the
specification requires).  The footer's text, up to the next blank line, is the
breaking note; with ``!`` alone the note is the description.  A breaking
non-conventional commit stays in Other, flagged.

Groups
======

Groups come in this fixed order, only those with commits:

=============  ==================
type           title
=============  ==================
feat           Features
fix            Bug fixes
perf           Performance
revert         Reverts
refactor       Refactoring
docs           Documentation
style          Style
test           Tests
build          Build system
ci             Continuous integration
chore          Chores
other          Other
=============  ==================

Within a group, commits keep the order they were given in (``git log``:
newest first).  Breaking commits stay in their type's group, flagged;
:func:`render_markdown` also lists them first under *Breaking changes*.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shipmate.domain.inputs.fields import format_time
from shipmate.errors import InvalidInputError

__all__ = [
    "GROUP_ORDER",
    "GROUP_TITLES",
    "Commit",
    "Entry",
    "Group",
    "group_commits",
    "parse_commit",
    "render_markdown",
    "to_dict",
]

GROUP_TITLES: dict[str, str] = {
    "feat": "Features",
    "fix": "Bug fixes",
    "perf": "Performance",
    "revert": "Reverts",
    "refactor": "Refactoring",
    "docs": "Documentation",
    "style": "Style",
    "test": "Tests",
    "build": "Build system",
    "ci": "Continuous integration",
    "chore": "Chores",
    "other": "Other",
}
GROUP_ORDER: tuple[str, ...] = tuple(GROUP_TITLES)
_KNOWN_TYPES = frozenset(GROUP_ORDER) - {"other"}

_SUBJECT = re.compile(
    r"^(?P<type>[A-Za-z]+)(?:\((?P<scope>[^()\r\n]*)\))?(?P<bang>!)?:[ \t]*(?P<desc>\S.*)$"
)
_GIT_REVERT = re.compile(r'^Revert "(?P<desc>.+)"\s*$')
_BREAKING_FOOTER = re.compile(r"^BREAKING[ -]CHANGE:[ \t]*(?P<text>.*)$")
SHORT_SHA = 7


@dataclass(frozen=True, slots=True)
class Commit:
    """One commit as ``git log`` gives it; ``time`` is the commit time, zone-aware."""

    sha: str
    subject: str
    body: str
    author: str
    time: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.sha, str) or not self.sha.strip():
            raise InvalidInputError("sha must be a non-empty string", field="sha")
        for name in ("subject", "body", "author"):
            if not isinstance(getattr(self, name), str):
                raise InvalidInputError(f"{name} must be a string", field=name, sha=self.sha)
        if not isinstance(self.time, datetime):
            raise InvalidInputError("time must be a datetime", field="time", sha=self.sha)
        if self.time.tzinfo is None or self.time.utcoffset() is None:
            raise InvalidInputError(
                f"time {self.time.isoformat()} has no time zone", field="time", sha=self.sha
            )


@dataclass(frozen=True, slots=True)
class Entry:
    """A parsed commit: its group type, scope, description and breaking marks."""

    commit: Commit
    type: str
    scope: str | None
    description: str
    breaking: bool
    breaking_note: str | None

    @property
    def short_sha(self) -> str:
        return self.commit.sha[:SHORT_SHA]

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha": self.commit.sha,
            "short_sha": self.short_sha,
            "type": self.type,
            "scope": self.scope,
            "description": self.description,
            "subject": self.commit.subject,
            "breaking": self.breaking,
            "breaking_note": self.breaking_note,
            "author": self.commit.author,
            "time": format_time(self.commit.time),
        }


@dataclass(frozen=True, slots=True)
class Group:
    type: str
    title: str
    entries: tuple[Entry, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "title": self.title,
            "entries": [entry.to_dict() for entry in self.entries],
        }


def _breaking_note(body: str) -> str | None:
    lines = body.splitlines()
    for index, line in enumerate(lines):
        match = _BREAKING_FOOTER.match(line)
        if match is None:
            continue
        parts = [match["text"].strip()]
        for following in lines[index + 1 :]:
            if not following.strip():
                break
            parts.append(following.strip())
        return " ".join(part for part in parts if part)
    return None


def parse_commit(commit: Commit) -> Entry:
    """Read one commit's subject and body (rules in the module docstring)."""
    subject = commit.subject.strip()
    note = _breaking_note(commit.body)
    footer_breaking = note is not None
    match = _SUBJECT.match(subject)
    if match is not None and match["type"].lower() in _KNOWN_TYPES:
        scope = (match["scope"] or "").strip() or None
        description = match["desc"].strip()
        breaking = bool(match["bang"]) or footer_breaking
        if breaking and not note:
            note = description
        return Entry(commit, match["type"].lower(), scope, description, breaking, note)
    revert = _GIT_REVERT.match(subject)
    if revert is not None:
        return Entry(commit, "revert", None, revert["desc"], footer_breaking, note or None)
    return Entry(commit, "other", None, subject, footer_breaking, note or None)


def group_commits(commits: Iterable[Commit]) -> list[Group]:
    """Commits grouped by type in the fixed display order; empty groups left out."""
    buckets: dict[str, list[Entry]] = {kind: [] for kind in GROUP_ORDER}
    for commit in commits:
        if not isinstance(commit, Commit):
            raise InvalidInputError("commits must be Commit values", field="commits")
        entry = parse_commit(commit)
        buckets[entry.type].append(entry)
    return [
        Group(kind, GROUP_TITLES[kind], tuple(entries))
        for kind, entries in buckets.items()
        if entries
    ]


def _line(entry: Entry) -> str:
    scope = f"**{entry.scope}:** " if entry.scope else ""
    mark = " **(breaking)**" if entry.breaking else ""
    return f"- {scope}{entry.description}{mark} (`{entry.short_sha}`)"


def render_markdown(groups: Sequence[Group], *, title: str) -> str:
    """Markdown: ``## title``, then *Breaking changes*, then one ``###`` section per group."""
    out = [f"## {title}", ""]
    if not any(group.entries for group in groups):
        out += ["_No changes._", ""]
        return "\n".join(out)
    breaking = [entry for group in groups for entry in group.entries if entry.breaking]
    if breaking:
        out += ["### Breaking changes", ""]
        for entry in breaking:
            scope = f"**{entry.scope}:** " if entry.scope else ""
            out.append(f"- {scope}{entry.breaking_note or entry.description} (`{entry.short_sha}`)")
        out.append("")
    for group in groups:
        if not group.entries:
            continue
        out += [f"### {group.title}", ""]
        out += [_line(entry) for entry in group.entries]
        out.append("")
    return "\n".join(out)


def to_dict(groups: Sequence[Group]) -> dict[str, Any]:
    """JSON-friendly: the groups in order, with commit and breaking counts."""
    return {
        "commits": sum(len(group.entries) for group in groups),
        "breaking": sum(1 for group in groups for entry in group.entries if entry.breaking),
        "groups": [group.to_dict() for group in groups],
    }
