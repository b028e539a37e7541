"""Repository, commit and branch links (pure): URL shapes, templates, hostile input."""

from __future__ import annotations

import pytest

from shipmate.domain.links import (
    Links,
    LinkSettings,
    link_settings,
    links_for,
    parse_repository,
    safe_http_url,
)
from shipmate.errors import ConfigError

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("repository", "expected"),
    [
        (
            "https://github.com/acme/shop",
            Links(
                "https://github.com/acme/shop",
                f"https://github.com/acme/shop/commit/{SHA}",
                "https://github.com/acme/shop/tree/feature%2Fpay",
            ),
        ),
        (
            "git@github.com:acme/shop.git",
            Links(
                "https://github.com/acme/shop",
                f"https://github.com/acme/shop/commit/{SHA}",
                "https://github.com/acme/shop/tree/feature%2Fpay",
            ),
        ),
        (
            "ssh://git@gitlab.com:2222/acme/team/shop.git",
            Links(
                "https://gitlab.com/acme/team/shop",
                f"https://gitlab.com/acme/team/shop/-/commit/{SHA}",
                "https://gitlab.com/acme/team/shop/-/tree/feature%2Fpay",
            ),
        ),
        (
            "https://gitlab.example.com:8443/acme/shop.git",
            Links(
                "https://gitlab.example.com:8443/acme/shop",
                f"https://gitlab.example.com:8443/acme/shop/-/commit/{SHA}",
                "https://gitlab.example.com:8443/acme/shop/-/tree/feature%2Fpay",
            ),
        ),
        (
            "https://x-token:secret@bitbucket.org/acme/shop",
            Links(
                "https://bitbucket.org/acme/shop",
                f"https://bitbucket.org/acme/shop/commits/{SHA}",
                "https://bitbucket.org/acme/shop/branch/feature%2Fpay",
            ),
        ),
    ],
)
def test_url_shapes_from_https_and_ssh_forms(repository: str, expected: Links) -> None:
    assert links_for(repository, commit=SHA, branch="feature/pay") == expected


def test_self_hosted_hosts_come_from_the_settings() -> None:
    assert links_for("git@git.corp:acme/shop.git", commit=SHA) == Links()  # unknown shape
    s = link_settings({"gitlab_hosts": ["git.corp"], "github_hosts": ["GHE.corp"]})
    assert links_for("git@git.corp:acme/shop.git", commit=SHA, settings=s).commit == (
        f"https://git.corp/acme/shop/-/commit/{SHA}"
    )
    assert links_for("https://ghe.corp/a/b", commit=SHA, settings=s).commit == (
        f"https://ghe.corp/a/b/commit/{SHA}"
    )


def test_templates_override_every_repository() -> None:
    s = link_settings(
        {
            "commit": "https://git.example/{repository}/commit/{commit}",
            "branch": "https://{host}/{repository}/src/{branch}",
        }
    )
    got = links_for("acme/shop", commit=SHA, branch="main", settings=s)
    assert got.commit == f"https://git.example/acme/shop/commit/{SHA}"
    assert got.branch is None  # a bare name has no host
    assert got.repository is None  # no template, and no shape for a bare name
    got = links_for("https://github.com/acme/shop", commit="a/b?c#d", branch="main", settings=s)
    assert got.commit == "https://git.example/acme/shop/commit/a%2Fb%3Fc%23d"
    assert got.branch == "https://github.com/acme/shop/src/main"
    assert got.repository == "https://github.com/acme/shop"


@pytest.mark.parametrize(
    "repository",
    [
        "javascript:alert(1)",
        "JavaScript://github.com/%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "/srv/git/shop",
        "file:///srv/git/shop",
        "https://github.com",
        "https://github.com/acme",
        "https://github.com/acme/../../etc",
        "https://github.com/acme/shop?x=1",
        "https://evil.com\\@github.com/acme/shop",
        'https://github.com"onmouseover="alert(1)/a/b',
        "https://git hub.com/acme/shop",
        "https://github.com/acme/sh\nop",
        "https://github.com/acme/sh\top",
        "https://github.com:99999/acme/shop",
        "",
        None,
    ],
)
def test_hostile_repositories_never_become_links(repository: str | None) -> None:
    assert links_for(repository, commit=SHA, branch="main") == Links()


def test_values_are_percent_encoded_and_quotes_never_survive() -> None:
    got = links_for("https://github.com/ac'me/sh\"op<x>", commit='"><script>', branch="a b")
    assert got.repository == "https://github.com/ac%27me/sh%22op%3Cx%3E"
    assert got.commit == "https://github.com/ac%27me/sh%22op%3Cx%3E/commit/%22%3E%3Cscript%3E"
    assert got.branch is None  # a space is no part of a git ref
    for url in (got.repository, got.commit):
        assert url is not None and not set("\"'<> ") & set(url)


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"commit": "javascript:{commit}"}, "dashboard.links.commit"),
        ({"commit": "{repository}/commit/{commit}"}, "dashboard.links.commit"),
        ({"commit": "https://x/{sha}"}, "dashboard.links.commit"),
        ({"commit": "https://x/{commit!r}"}, "dashboard.links.commit"),
        ({"commit": "https://x/{commit:>40}"}, "dashboard.links.commit"),
        ({"commit": "https://evil.{host}/x"}, "dashboard.links.commit"),
        ({"branch": "https://x/{"}, "dashboard.links.branch"),
        ({"gitlab_hosts": ["not a host"]}, "dashboard.links.gitlab_hosts"),
        ({"ci": "https://x"}, "dashboard.links.ci"),
    ],
)
def test_bad_settings_name_the_key(table: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        link_settings(table)
    assert err.value.field == key


def test_safe_http_url() -> None:
    assert safe_http_url(" https://ci.example.com/runs/1 ") == "https://ci.example.com/runs/1"
    for bad in ("javascript:alert(1)", "https://", "ftp://x/y", 'https://x/"y', "http://x/a b"):
        assert safe_http_url(bad) is None
    assert parse_repository("acme/shop", LinkSettings()) is not None
