"""Git and CI metadata picked up from a CI platform's environment variables.

:func:`detect_ci` reads a mapping of environment variables (passed in: this module
never touches ``os.environ``) and returns a :class:`CiInfo`.  Platforms are checked in
a fixed order and the first whose marker variable is set wins:

- ``github-actions`` (``GITHUB_ACTIONS``): run URL is
  ``GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID``; the branch is
  ``GITHUB_HEAD_REF`` for pull requests, else the ``refs/heads/`` part of ``GITHUB_REF``.
- ``gitlab-ci`` (``GITLAB_CI``): repository is ``CI_PROJECT_PATH``, run number the
  project-scoped ``CI_PIPELINE_IID``.
- ``buildkite`` (``BUILDKITE``): a ``BUILDKITE_COMMIT`` of ``HEAD`` counts as unknown.
- ``circleci`` (``CIRCLECI``): run id is ``CIRCLE_WORKFLOW_ID``, run number and URL
  are the job's.
- ``azure-pipelines`` (``TF_BUILD``): run URL is
  ``System.CollectionUri + System.TeamProject/_build/results?buildId=Build.BuildId``.
- ``bitbucket-pipelines`` (``BITBUCKET_BUILD_NUMBER``): run URL is
  ``https://bitbucket.org/<BITBUCKET_REPO_FULL_NAME>/pipelines/results/<number>``; no
  actor (Bitbucket exposes only the triggerer's UUID) and no job name.
- ``jenkins`` (``JENKINS_URL``): ``GIT_BRANCH`` loses its ``origin/`` prefix; run id is
  ``BUILD_TAG`` (unique across jobs); actor from the build-user-vars plugin's
  ``BUILD_USER_ID`` or a change request's ``CHANGE_AUTHOR``.

Branch rules shared by all platforms: a tag build has branch ``None``; a pull/merge
request build reports its source branch; ``refs/heads/x`` becomes ``x``; any other
``refs/...`` (``refs/pull/1/merge``) is not a branch.  Empty variables count as unset.
Repository URLs lose any credentials (:func:`strip_url_credentials`).

No CI detected gives ``CiInfo()``: platform ``None`` and every field ``None``.

:func:`default_environment` is the environment a CI job deploys to when the job
says so: GitLab's ``CI_ENVIRONMENT_NAME`` (set by a job's ``environment:``) under
``GITLAB_CI``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from urllib.parse import quote

__all__ = ["CiInfo", "default_environment", "detect_ci", "rewritten_url", "strip_url_credentials"]


@dataclass(frozen=True)
class CiInfo:
    """Who built what, where: every field optional."""

    platform: str | None = None
    commit_sha: str | None = None
    branch: str | None = None
    actor: str | None = None
    run_id: str | None = None
    run_number: str | None = None
    run_url: str | None = None
    repository: str | None = None
    job: str | None = None

    def merged_over(self, other: CiInfo) -> CiInfo:
        """A copy where each field missing here (``None``) is taken from ``other``."""
        values = {
            f.name: getattr(self, f.name)
            if getattr(self, f.name) is not None
            else getattr(other, f.name)
            for f in fields(self)
        }
        return CiInfo(**values)

    def as_dict(self) -> dict[str, str]:
        """The fields that are set, by name (handy for metadata)."""
        return {key: value for key, value in asdict(self).items() if value is not None}


_URL_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/]*)@")


def strip_url_credentials(url: str) -> str:
    """``url`` without secrets in its user-info part.

    ``https://user:token@host/x`` and ``https://token@host/x`` become
    ``https://host/x``; a plain user name on other schemes (``ssh://git@host/x``) and
    scp-style addresses (``git@host:x``) are kept, as they hold no secret.
    """
    match = _URL_USERINFO.match(url)
    if match is None:
        return url
    scheme = match.group("scheme").lower()
    if ":" in match.group("userinfo") or scheme in ("http://", "https://"):
        return match.group("scheme") + url[match.end() :]
    return url


def rewritten_url(url: str, instead_of: Sequence[tuple[str, str]]) -> str:
    """``url`` as git rewrites it by its ``url.<base>.insteadOf`` settings, given as
    ``(prefix, base)`` pairs in the order of the configuration: the longest prefix
    that starts ``url`` (the first of equal ones) is replaced by its base."""
    best: tuple[str, str] | None = None
    for prefix, base in instead_of:
        if url.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, base)
    return url if best is None else best[1] + url[len(best[0]) :]


def detect_ci(env: Mapping[str, str]) -> CiInfo:
    """The CI platform running us, and what it says about the build."""
    get = _getter(env)
    for marker, reader in _PLATFORMS:
        if _flag(get(marker)):
            return reader(get)
    return CiInfo()


def default_environment(env: Mapping[str, str]) -> str | None:
    """``CI_ENVIRONMENT_NAME`` in a GitLab CI job; None anywhere else."""
    get = _getter(env)
    return get("CI_ENVIRONMENT_NAME") if _flag(get("GITLAB_CI")) else None


Getter = Callable[[str], str | None]


def _getter(env: Mapping[str, str]) -> Getter:
    def get(name: str) -> str | None:
        value = env.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    return get


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() not in ("false", "0", "no")


def _first(*values: str | None) -> str | None:
    return next((v for v in values if v is not None), None)


def _branch_from_ref(ref: str | None) -> str | None:
    """``refs/heads/x`` → ``x``; other ``refs/...`` → None; a plain name is kept."""
    if ref is None:
        return None
    if ref.startswith("refs/heads/"):
        return ref.removeprefix("refs/heads/") or None
    if ref.startswith("refs/"):
        return None
    return ref


def _repo_url(value: str | None) -> str | None:
    return None if value is None else strip_url_credentials(value)


def _github(get: Getter) -> CiInfo:
    ref = get("GITHUB_REF")
    if get("GITHUB_HEAD_REF"):
        branch = get("GITHUB_HEAD_REF")
    elif get("GITHUB_REF_TYPE") == "tag" or (ref or "").startswith("refs/tags/"):
        branch = None
    elif ref is not None:
        branch = _branch_from_ref(ref)
    else:
        branch = get("GITHUB_REF_NAME")
    repository = get("GITHUB_REPOSITORY")
    run_id = get("GITHUB_RUN_ID")
    server = (get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    run_url = f"{server}/{repository}/actions/runs/{run_id}" if repository and run_id else None
    return CiInfo(
        platform="github-actions",
        commit_sha=get("GITHUB_SHA"),
        branch=branch,
        actor=get("GITHUB_ACTOR"),
        run_id=run_id,
        run_number=get("GITHUB_RUN_NUMBER"),
        run_url=run_url,
        repository=repository,
        job=get("GITHUB_JOB"),
    )


def _gitlab(get: Getter) -> CiInfo:
    if get("CI_COMMIT_TAG"):
        branch = None
    else:
        branch = _first(
            get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"),
            get("CI_COMMIT_BRANCH"),
            _branch_from_ref(get("CI_COMMIT_REF_NAME")),
        )
    return CiInfo(
        platform="gitlab-ci",
        commit_sha=get("CI_COMMIT_SHA"),
        branch=branch,
        actor=_first(get("GITLAB_USER_LOGIN"), get("GITLAB_USER_NAME")),
        run_id=get("CI_PIPELINE_ID"),
        run_number=get("CI_PIPELINE_IID"),
        run_url=get("CI_PIPELINE_URL"),
        repository=get("CI_PROJECT_PATH"),
        job=get("CI_JOB_NAME"),
    )


def _buildkite(get: Getter) -> CiInfo:
    commit = get("BUILDKITE_COMMIT")
    return CiInfo(
        platform="buildkite",
        commit_sha=None if commit == "HEAD" else commit,
        branch=None if get("BUILDKITE_TAG") else get("BUILDKITE_BRANCH"),
        actor=_first(get("BUILDKITE_BUILD_CREATOR"), get("BUILDKITE_BUILD_AUTHOR")),
        run_id=get("BUILDKITE_BUILD_ID"),
        run_number=get("BUILDKITE_BUILD_NUMBER"),
        run_url=get("BUILDKITE_BUILD_URL"),
        repository=_repo_url(get("BUILDKITE_REPO")),
        job=_first(get("BUILDKITE_LABEL"), get("BUILDKITE_STEP_KEY")),
    )


def _circleci(get: Getter) -> CiInfo:
    owner, name = get("CIRCLE_PROJECT_USERNAME"), get("CIRCLE_PROJECT_REPONAME")
    repository = f"{owner}/{name}" if owner and name else _repo_url(get("CIRCLE_REPOSITORY_URL"))
    return CiInfo(
        platform="circleci",
        commit_sha=get("CIRCLE_SHA1"),
        branch=None if get("CIRCLE_TAG") else get("CIRCLE_BRANCH"),
        actor=get("CIRCLE_USERNAME"),
        run_id=get("CIRCLE_WORKFLOW_ID"),
        run_number=get("CIRCLE_BUILD_NUM"),
        run_url=get("CIRCLE_BUILD_URL"),
        repository=repository,
        job=get("CIRCLE_JOB"),
    )


def _azure(get: Getter) -> CiInfo:
    pr_branch = get("SYSTEM_PULLREQUEST_SOURCEBRANCH")
    branch = (
        _branch_from_ref(pr_branch) if pr_branch else _branch_from_ref(get("BUILD_SOURCEBRANCH"))
    )
    collection, project, build_id = (
        get("SYSTEM_COLLECTIONURI"),
        get("SYSTEM_TEAMPROJECT"),
        get("BUILD_BUILDID"),
    )
    run_url = (
        f"{collection.rstrip('/')}/{quote(project)}/_build/results?buildId={build_id}"
        if collection and project and build_id
        else None
    )
    return CiInfo(
        platform="azure-pipelines",
        commit_sha=get("BUILD_SOURCEVERSION"),
        branch=branch,
        actor=get("BUILD_REQUESTEDFOR"),
        run_id=build_id,
        run_number=get("BUILD_BUILDNUMBER"),
        run_url=run_url,
        repository=_first(get("BUILD_REPOSITORY_NAME"), _repo_url(get("BUILD_REPOSITORY_URI"))),
        job=_first(get("SYSTEM_JOBDISPLAYNAME"), get("AGENT_JOBNAME")),
    )


def _bitbucket(get: Getter) -> CiInfo:
    full_name = get("BITBUCKET_REPO_FULL_NAME")
    number = get("BITBUCKET_BUILD_NUMBER")
    run_url = (
        f"https://bitbucket.org/{full_name}/pipelines/results/{number}"
        if full_name and number
        else None
    )
    return CiInfo(
        platform="bitbucket-pipelines",
        commit_sha=get("BITBUCKET_COMMIT"),
        branch=None if get("BITBUCKET_TAG") else get("BITBUCKET_BRANCH"),
        actor=None,  # only BITBUCKET_STEP_TRIGGERER_UUID exists: an id, not a name
        run_id=get("BITBUCKET_PIPELINE_UUID"),
        run_number=number,
        run_url=run_url,
        repository=full_name,
        job=None,
    )


def _jenkins(get: Getter) -> CiInfo:
    git_branch = get("GIT_BRANCH")
    if git_branch is not None:
        git_branch = _branch_from_ref(git_branch.removeprefix("origin/"))
    branch = (
        None
        if get("TAG_NAME")
        else _first(get("CHANGE_BRANCH"), get("BRANCH_NAME"), get("GIT_LOCAL_BRANCH"), git_branch)
    )
    return CiInfo(
        platform="jenkins",
        commit_sha=get("GIT_COMMIT"),
        branch=branch,
        actor=_first(get("BUILD_USER_ID"), get("CHANGE_AUTHOR")),
        run_id=_first(get("BUILD_TAG"), get("BUILD_ID")),
        run_number=get("BUILD_NUMBER"),
        run_url=get("BUILD_URL"),
        repository=_repo_url(get("GIT_URL")),
        job=get("JOB_NAME"),
    )


_PLATFORMS: tuple[tuple[str, Callable[[Getter], CiInfo]], ...] = (
    ("GITHUB_ACTIONS", _github),
    ("GITLAB_CI", _gitlab),
    ("BUILDKITE", _buildkite),
    ("CIRCLECI", _circleci),
    ("TF_BUILD", _azure),
    ("BITBUCKET_BUILD_NUMBER", _bitbucket),
    ("JENKINS_URL", _jenkins),
)
