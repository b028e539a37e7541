"""Conventional Commit grouping and rendering of changelogs."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from shipmate.domain.changelog import (
    GROUP_ORDER,
    Commit,
    group_commits,
    parse_commit,
    render_markdown,
    to_dict,
)
from shipmate.errors import InvalidInputError

WHEN = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def commit(subject: str, body: str = "", sha: str = "", author: str = "Ada") -> Commit:
    return Commit(
        sha=sha or hashlib.sha1(subject.encode()).hexdigest(),
        subject=subject,
        body=body,
        author=author,
        time=WHEN,
    )


@pytest.mark.parametrize(
    ("subject", "type_", "scope", "description", "breaking"),
    [
        ("feat: add matrix", "feat", None, "add matrix", False),
        ("feat(api): add matrix", "feat", "api", "add matrix", False),
        ("feat(api)!: drop v1", "feat", "api", "drop v1", True),
        ("fix!: stop lying", "fix", None, "stop lying", True),
        ("Fix(Store): lock rows", "fix", "Store", "lock rows", False),
        ("perf: faster matrix", "perf", None, "faster matrix", False),
        ("refactor(engine): split slots", "refactor", "engine", "split slots", False),
        ("docs: metrics", "docs", None, "metrics", False),
        ("test: more fixtures", "test", None, "more fixtures", False),
        ("build: wheel", "build", None, "wheel", False),
        ("ci: cache", "ci", None, "cache", False),
        ("chore(deps): bump", "chore", "deps", "bump", False),
        ("style: format", "style", None, "format", False),
        ("revert: feat(api): add matrix", "revert", None, "feat(api): add matrix", False),
        ('Revert "feat: add matrix"', "revert", None, "feat: add matrix", False),
        ("feat(): empty scope", "feat", None, "empty scope", False),
        ("feat:no space", "feat", None, "no space", False),
        ("  feat: padded  ", "feat", None, "padded", False),
        # non-conventional
        ("Add a thing", "other", None, "Add a thing", False),
        ("wip: not a type", "other", None, "wip: not a type", False),
        ("feat: ", "other", None, "feat:", False),
        ("feat add thing", "other", None, "feat add thing", False),
        ("Merge branch 'main' into x", "other", None, "Merge branch 'main' into x", False),
        ("feat(a(b)): nested", "other", None, "feat(a(b)): nested", False),
    ],
)
def test_parse_subject(
    subject: str, type_: str, scope: str | None, description: str, breaking: bool
) -> None:
    entry = parse_commit(commit(subject))
    assert (entry.type, entry.scope, entry.description, entry.breaking) == (
        type_,
        scope,
        description,
        breaking,
    )


def test_breaking_change_footer() -> None:
    body = (
        "Long explanation.\n\n"
        "BREAKING CHANGE: the /api/v1 routes are gone;\n"
        "use /api/v2 instead.\n\n"
        "Refs: #12\n"
    )
    entry = parse_commit(commit("feat(api): new routes", body))
    assert entry.breaking
    assert entry.breaking_note == "the /api/v1 routes are gone; use /api/v2 instead."
    hyphen = parse_commit(commit("fix: x", "BREAKING-CHANGE: config key renamed"))
    assert hyphen.breaking
    assert hyphen.breaking_note == "config key renamed"
    bang_only = parse_commit(commit("feat!: drop python 3.10"))
    assert bang_only.breaking_note == "drop python 3.10"
    # the token must be upper case and start a line
    assert not parse_commit(commit("fix: x", "breaking change: no")).breaking
    assert not parse_commit(commit("fix: x", "this is a BREAKING CHANGE: not a footer")).breaking
    # a non-conventional commit can still be breaking
    other = parse_commit(commit("Rewrite everything", "BREAKING CHANGE: all of it"))
    assert (other.type, other.breaking, other.breaking_note) == ("other", True, "all of it")


def test_groups_come_in_display_order_and_keep_commit_order() -> None:
    commits = [
        commit("chore: tidy", sha="a" * 40),
        commit("Update README", sha="b" * 40),
        commit("fix(cli): exit code", sha="c" * 40),
        commit("feat: second feature", sha="d" * 40),
        commit("feat(web): first feature", sha="e" * 40),
        commit("perf: quicker", sha="f" * 40),
        commit("ci: lint", sha="1" * 40),
    ]
    groups = group_commits(commits)
    assert [(g.type, g.title) for g in groups] == [
        ("feat", "Features"),
        ("fix", "Bug fixes"),
        ("perf", "Performance"),
        ("ci", "Continuous integration"),
        ("chore", "Chores"),
        ("other", "Other"),
    ]
    assert [e.description for e in groups[0].entries] == ["second feature", "first feature"]
    assert groups[0].entries[1].scope == "web"
    assert groups[-1].entries[0].description == "Update README"


def test_every_type_has_a_title_and_a_place() -> None:
    subjects = [f"{t}: x" for t in GROUP_ORDER if t != "other"] + ["plain"]
    groups = group_commits(commit(s, sha=f"{i:040d}") for i, s in enumerate(reversed(subjects)))
    assert [g.type for g in groups] == list(GROUP_ORDER)
    assert [g.title for g in groups] == [
        "Features",
        "Bug fixes",
        "Performance",
        "Reverts",
        "Refactoring",
        "Documentation",
        "Style",
        "Tests",
        "Build system",
        "Continuous integration",
        "Chores",
        "Other",
    ]


def test_no_commits() -> None:
    assert group_commits([]) == []
    assert render_markdown([], title="api 1.4.0") == "## api 1.4.0\n\n_No changes._\n"
    assert to_dict([]) == {"commits": 0, "breaking": 0, "groups": []}


def test_render_markdown() -> None:
    groups = group_commits(
        [
            commit("feat(api)!: drop v1 routes", sha="1234567890" + "0" * 30),
            commit("fix: off by one", sha="abcdef1234" + "0" * 30),
            commit("Tidy things", "BREAKING CHANGE: config moved", sha="fedcba9876" + "0" * 30),
        ]
    )
    text = render_markdown(groups, title="api 1.4.0 (production)")
    assert text == (
        "## api 1.4.0 (production)\n"
        "\n"
        "### Breaking changes\n"
        "\n"
        "- **api:** drop v1 routes (`1234567`)\n"
        "- config moved (`fedcba9`)\n"
        "\n"
        "### Features\n"
        "\n"
        "- **api:** drop v1 routes **(breaking)** (`1234567`)\n"
        "\n"
        "### Bug fixes\n"
        "\n"
        "- off by one (`abcdef1`)\n"
        "\n"
        "### Other\n"
        "\n"
        "- Tidy things **(breaking)** (`fedcba9`)\n"
    )


def test_to_dict() -> None:
    groups = group_commits(
        [
            commit("feat(web)!: new matrix", sha="a" * 40, author="Grace"),
            commit("docs: metrics", sha="b" * 40),
        ]
    )
    data = to_dict(groups)
    json.dumps(data)
    assert data["commits"] == 2
    assert data["breaking"] == 1
    assert [g["type"] for g in data["groups"]] == ["feat", "docs"]
    assert data["groups"][0]["title"] == "Features"
    assert data["groups"][0]["entries"][0] == {
        "sha": "a" * 40,
        "short_sha": "aaaaaaa",
        "type": "feat",
        "scope": "web",
        "description": "new matrix",
        "subject": "feat(web)!: new matrix",
        "breaking": True,
        "breaking_note": "new matrix",
        "author": "Grace",
        "time": "2026-11-22T10:00:00.000Z",
    }


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sha": ""}, "sha"),
        ({"subject": None}, "subject"),
        ({"body": 3}, "body"),
        ({"time": datetime(2026, 11, 22, 10)}, "time"),
        ({"time": "2026-11-22T10:00:00Z"}, "time"),
    ],
)
def test_bad_commits_are_refused_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    values: dict[str, object] = {
        "sha": "a" * 40,
        "subject": "feat: x",
        "body": "",
        "author": "Ada",
        "time": WHEN,
    }
    values.update(kwargs)
    with pytest.raises(InvalidInputError) as info:
        Commit(**values)  # type: ignore[arg-type]
    assert info.value.field == field


def test_group_commits_refuses_non_commits() -> None:
    with pytest.raises(InvalidInputError) as info:
        group_commits(["feat: x"])  # type: ignore[list-item]
    assert info.value.field == "commits"
