"""Links to where a deployment's repository, commit, branch and CI run live.

A deployment records its repository as the client sent it (``https://github.com/acme/shop``,
``git@gitlab.com:acme/group/shop.git``, ``ssh://git@bitbucket.org/acme/shop.git``).
:func:`links_for` derives the web URL of the repository, a commit and a branch
from it for three URL shapes:

==========  ==========================  ===========================  =========================
shape       repository                  commit                       branch
==========  ==========================  ===========================  =========================
github      ``https://{host}/{path}``   ``…/commit/{commit}``        ``…/tree/{branch}``
gitlab      ``https://{host}/{path}``   ``…/-/commit/{commit}``      ``…/-/tree/{branch}``
bitbucket   ``https://{host}/{path}``   ``…/commits/{commit}``       ``…/branch/{branch}``
==========  ==========================  ===========================  =========================

``github.com``, ``gitlab.com`` and ``bitbucket.org`` are known; a self-hosted
GitLab or GitHub Enterprise is named in ``[dashboard.links]`` (``gitlab_hosts``,
``github_hosts``), and a host whose first label is ``gitlab`` (``gitlab.example.com``)
is taken for GitLab.  Templates in the same table (``repository``, ``commit``,
``branch``) replace the derived URLs for every repository.

Safety: the result is always an ``http(s)`` URL or None.  The host must be a host
name, every value put into a URL is percent-encoded (path segments one by one),
credentials in a repository URL are dropped, and a template must itself start with
``https://`` or ``http://``.  Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from string import Formatter
from typing import Any
from urllib.parse import quote, urlsplit

from shipmate.domain.configtables import ConfigTable
from shipmate.errors import ConfigError

__all__ = [
    "LINKS_TABLE",
    "LinkSettings",
    "Links",
    "RepositoryAddress",
    "link_settings",
    "links_for",
    "parse_repository",
    "safe_http_url",
]

LINKS_TABLE = "dashboard.links"
_KNOWN_HOSTS = {"github.com": "github", "gitlab.com": "gitlab", "bitbucket.org": "bitbucket"}
_SHAPES = {
    "github": ("/commit/{commit}", "/tree/{branch}"),
    "gitlab": ("/-/commit/{commit}", "/-/tree/{branch}"),
    "bitbucket": ("/commits/{commit}", "/branch/{branch}"),
}
_TEMPLATE_KEYS = ("repository", "commit", "branch")
_PLACEHOLDERS = frozenset({"host", "repository", "commit", "branch"})
_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62})(?:\.[a-z0-9](?:[a-z0-9-]{0,62}))*(?::\d{1,5})?$")
_SCP = re.compile(r"^(?:[A-Za-z0-9._-]+@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^/].*)$")
_BARE = re.compile(r"^[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+$")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_MAX = 2000


@dataclass(frozen=True)
class LinkSettings:
    """``[dashboard.links]``: templates for every repository, and self-hosted hosts."""

    #: ``repository``, ``commit`` and ``branch`` templates, as configured.
    templates: Mapping[str, str] = field(default_factory=dict)
    gitlab_hosts: frozenset[str] = frozenset()
    github_hosts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RepositoryAddress:
    """A repository's web host and path (``acme/shop``), and its URL shape if known."""

    host: str
    path: tuple[str, ...]
    shape: str | None


@dataclass(frozen=True)
class Links:
    repository: str | None = None
    commit: str | None = None
    branch: str | None = None


NO_LINKS = Links()


def _check_template(value: str, key: str) -> str:
    if not value.lower().startswith(("https://", "http://")):
        raise ConfigError(f"{key} must start with https:// or http://", field=key)
    try:
        parsed = list(Formatter().parse(value))
    except ValueError as exc:
        raise ConfigError(f"{key} is not a valid template: {exc}", field=key) from None
    allowed = ", ".join("{" + p + "}" for p in sorted(_PLACEHOLDERS))
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in _PLACEHOLDERS or spec or conversion:
            raise ConfigError(
                f"{key} has a placeholder {{{name}}} it cannot fill; allowed: {allowed}",
                field=key,
            )
    scheme_end = value.index("//") + 2
    if "{host}" in value and value[scheme_end : scheme_end + 6] != "{host}":
        raise ConfigError(f"{key} may use {{host}} only as the whole host", field=key)
    return value


def link_settings(table: Mapping[str, Any] | None) -> LinkSettings:
    """``[dashboard.links]`` read and checked; a ConfigError names the bad key."""
    if table is None:
        return LinkSettings()
    t = ConfigTable(
        table, field=LINKS_TABLE, allowed=(*_TEMPLATE_KEYS, "gitlab_hosts", "github_hosts")
    )
    templates = {
        key: _check_template(t.string(key), t.key(key)) for key in _TEMPLATE_KEYS if t.has(key)
    }
    hosts: dict[str, frozenset[str]] = {}
    for key in ("gitlab_hosts", "github_hosts"):
        listed = t.string_list(key) if t.has(key) else ()
        for host in listed:
            if not _HOST.match(host.lower()):
                raise ConfigError(f"{t.key(key)} has {host!r}, not a host name", field=t.key(key))
        hosts[key] = frozenset(h.lower() for h in listed)
    return LinkSettings(templates, hosts["gitlab_hosts"], hosts["github_hosts"])


def _shape(host: str, settings: LinkSettings) -> str | None:
    bare = host.split(":", 1)[0]
    if bare in settings.gitlab_hosts or host in settings.gitlab_hosts:
        return "gitlab"
    if bare in settings.github_hosts or host in settings.github_hosts:
        return "github"
    if bare in _KNOWN_HOSTS:
        return _KNOWN_HOSTS[bare]
    if bare.split(".", 1)[0] == "gitlab":
        return "gitlab"
    return None


def parse_repository(value: str | None, settings: LinkSettings) -> RepositoryAddress | None:
    """The web address of a repository given as an https, ssh or ``git@host:path`` URL,
    or a bare ``owner/name`` (no host: for templates only); None for anything else
    (a local path, a hostile string)."""
    if not value or len(value) > _MAX or _CONTROL.search(value.strip()) or "\\" in value:
        return None
    text = value.strip()
    scp = _SCP.match(text) if "://" not in text else None
    if scp is None and _BARE.match(text):
        # ``acme/shop``: no host, so only a template with {repository} can use it
        segments = tuple(text.removesuffix(".git").split("/"))
        if any(s in (".", "..") for s in segments):
            return None
        return RepositoryAddress(host="", path=segments, shape=None)
    if scp is not None:
        host, path = scp.group("host"), scp.group("path")
    else:
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError:
            return None
        if parts.scheme.lower() not in ("https", "http", "ssh", "git") or not parts.hostname:
            return None
        host = parts.hostname
        # an ssh port is not the web server's; an https one is
        if port is not None and parts.scheme.lower() in ("https", "http"):
            host = f"{host}:{port}"
        path = parts.path
        if parts.query or parts.fragment:
            return None
    host = host.lower()
    if not _HOST.match(host):
        return None
    if path.endswith(".git"):
        path = path[:-4]
    segments = tuple(s for s in path.split("/") if s)
    if len(segments) < 2 or any(s in (".", "..") for s in segments):
        return None
    return RepositoryAddress(host=host, path=segments, shape=_shape(host, settings))


def _segments(path: tuple[str, ...]) -> str:
    return "/".join(quote(s, safe="") for s in path)


def _fill(template: str, address: RepositoryAddress | None, values: dict[str, str]) -> str | None:
    names = {name for _, name, _, _ in Formatter().parse(template) if name is not None}
    filled: dict[str, str] = {}
    for name in names:
        if name in ("host", "repository"):
            if address is None or (name == "host" and not address.host):
                return None
            filled[name] = address.host if name == "host" else _segments(address.path)
        elif name in values:
            filled[name] = quote(values[name], safe="")
        else:
            return None
    return safe_http_url(template.format(**filled))


def links_for(
    repository: str | None,
    *,
    commit: str | None = None,
    branch: str | None = None,
    settings: LinkSettings = LinkSettings(),
) -> Links:
    """The repository, commit and branch URLs (each None when not derivable)."""
    address = parse_repository(repository, settings)
    values = {
        k: v.strip()
        for k, v in (("commit", commit), ("branch", branch))
        if v and v.strip() and len(v) <= _MAX and not _CONTROL.search(v.strip())
    }
    found: dict[str, str | None] = {}
    base = None
    if address is not None and address.shape is not None:
        base = f"https://{address.host}/{_segments(address.path)}"
    for key in _TEMPLATE_KEYS:
        template = settings.templates.get(key)
        if template is not None:
            found[key] = _fill(template, address, values)
        elif base is None or address is None or address.shape is None:
            found[key] = None
        elif key == "repository":
            found[key] = base
        else:
            suffix = _SHAPES[address.shape][0 if key == "commit" else 1]
            found[key] = _fill(base + suffix, None, values) if key in values else None
    return Links(**found)


def safe_http_url(url: str | None) -> str | None:
    """``url`` when it is a well-formed http(s) URL with a host, else None: never a
    ``javascript:`` or ``data:`` link, never one with spaces or control characters."""
    if not url or len(url) > _MAX:
        return None
    text = url.strip()
    if _CONTROL.search(text) or '"' in text or "<" in text or ">" in text:
        return None
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - a bad port raises
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return text
