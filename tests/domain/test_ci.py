"""CI platform detection from environment variables (passed in as plain dicts)."""

from __future__ import annotations

import pytest

from shipmate.domain.ci import CiInfo, detect_ci, rewritten_url, strip_url_credentials

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_no_ci_gives_empty_info() -> None:
    assert detect_ci({}) == CiInfo()
    assert detect_ci({"PATH": "/usr/bin", "CI": "true"}) == CiInfo()
    assert detect_ci({"GITHUB_ACTIONS": "false", "GITHUB_SHA": SHA}) == CiInfo()
    assert CiInfo().as_dict() == {}


# --- GitHub Actions ---------------------------------------------------------------

GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SHA": SHA,
    "GITHUB_REF": "refs/heads/main",
    "GITHUB_REF_NAME": "main",
    "GITHUB_REF_TYPE": "branch",
    "GITHUB_HEAD_REF": "",
    "GITHUB_ACTOR": "octocat",
    "GITHUB_RUN_ID": "9876543210",
    "GITHUB_RUN_NUMBER": "42",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "bloqr/backend",
    "GITHUB_JOB": "deploy",
}


def test_github_push() -> None:
    assert detect_ci(GITHUB) == CiInfo(
        platform="github-actions",
        commit_sha=SHA,
        branch="main",
        actor="octocat",
        run_id="9876543210",
        run_number="42",
        run_url="https://github.com/bloqr/backend/actions/runs/9876543210",
        repository="bloqr/backend",
        job="deploy",
    )


def test_github_pull_request_uses_head_ref() -> None:
    env = {
        **GITHUB,
        "GITHUB_REF": "refs/pull/17/merge",
        "GITHUB_REF_NAME": "17/merge",
        "GITHUB_HEAD_REF": "feature/login",
    }
    assert detect_ci(env).branch == "feature/login"


def test_github_tag_has_no_branch() -> None:
    env = {**GITHUB, "GITHUB_REF": "refs/tags/v1.4.0", "GITHUB_REF_NAME": "v1.4.0"}
    env.pop("GITHUB_REF_TYPE")
    assert detect_ci(env).branch is None
    env2 = {**GITHUB, "GITHUB_REF_TYPE": "tag", "GITHUB_REF_NAME": "v1.4.0"}
    env2.pop("GITHUB_REF")
    assert detect_ci(env2).branch is None


def test_github_branch_with_slash_from_ref() -> None:
    env = {**GITHUB, "GITHUB_REF": "refs/heads/release/1.x"}
    env.pop("GITHUB_REF_NAME")
    assert detect_ci(env).branch == "release/1.x"


def test_github_ref_name_when_ref_missing() -> None:
    env = {**GITHUB, "GITHUB_REF_NAME": "develop"}
    env.pop("GITHUB_REF")
    assert detect_ci(env).branch == "develop"


def test_github_enterprise_server_and_missing_parts() -> None:
    env = {**GITHUB, "GITHUB_SERVER_URL": "https://ghe.example.com/"}
    assert detect_ci(env).run_url == "https://ghe.example.com/bloqr/backend/actions/runs/9876543210"
    env.pop("GITHUB_SERVER_URL")
    assert detect_ci(env).run_url == "https://github.com/bloqr/backend/actions/runs/9876543210"
    env.pop("GITHUB_RUN_ID")
    assert detect_ci(env).run_url is None


# --- GitLab CI --------------------------------------------------------------------

GITLAB = {
    "GITLAB_CI": "true",
    "CI_COMMIT_SHA": SHA,
    "CI_COMMIT_BRANCH": "main",
    "CI_COMMIT_REF_NAME": "main",
    "GITLAB_USER_LOGIN": "alice",
    "GITLAB_USER_NAME": "Alice Example",
    "CI_PIPELINE_ID": "1000123",
    "CI_PIPELINE_IID": "88",
    "CI_PIPELINE_URL": "https://gitlab.com/group/app/-/pipelines/1000123",
    "CI_PROJECT_PATH": "group/app",
    "CI_JOB_NAME": "deploy-prod",
}


def test_gitlab_branch_pipeline() -> None:
    assert detect_ci(GITLAB) == CiInfo(
        platform="gitlab-ci",
        commit_sha=SHA,
        branch="main",
        actor="alice",
        run_id="1000123",
        run_number="88",
        run_url="https://gitlab.com/group/app/-/pipelines/1000123",
        repository="group/app",
        job="deploy-prod",
    )


def test_gitlab_merge_request_and_tag() -> None:
    mr = {**GITLAB, "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "fix/x", "CI_COMMIT_BRANCH": ""}
    mr["CI_COMMIT_REF_NAME"] = "refs/merge-requests/5/head"
    assert detect_ci(mr).branch == "fix/x"
    tag = {**GITLAB, "CI_COMMIT_TAG": "v2.0.0", "CI_COMMIT_REF_NAME": "v2.0.0"}
    tag.pop("CI_COMMIT_BRANCH")
    assert detect_ci(tag).branch is None


# --- Jenkins ----------------------------------------------------------------------

JENKINS = {
    "JENKINS_URL": "https://ci.example.com/",
    "GIT_COMMIT": SHA,
    "GIT_BRANCH": "origin/main",
    "GIT_URL": "https://builder:s3cret@git.example.com/team/app.git",
    "BUILD_NUMBER": "153",
    "BUILD_ID": "153",
    "BUILD_TAG": "jenkins-app-deploy-153",
    "BUILD_URL": "https://ci.example.com/job/app-deploy/153/",
    "JOB_NAME": "app-deploy",
}


def test_jenkins_freestyle() -> None:
    assert detect_ci(JENKINS) == CiInfo(
        platform="jenkins",
        commit_sha=SHA,
        branch="main",
        actor=None,
        run_id="jenkins-app-deploy-153",
        run_number="153",
        run_url="https://ci.example.com/job/app-deploy/153/",
        repository="https://git.example.com/team/app.git",
        job="app-deploy",
    )


def test_jenkins_multibranch_pr_and_tag() -> None:
    pr = {**JENKINS, "BRANCH_NAME": "PR-24", "CHANGE_BRANCH": "feature/y", "CHANGE_AUTHOR": "bob"}
    info = detect_ci(pr)
    assert (info.branch, info.actor) == ("feature/y", "bob")
    assert detect_ci({**JENKINS, "BRANCH_NAME": "develop"}).branch == "develop"
    assert detect_ci({**JENKINS, "TAG_NAME": "v1.0.0", "BRANCH_NAME": "v1.0.0"}).branch is None
    assert detect_ci({**JENKINS, "BUILD_USER_ID": "carol"}).actor == "carol"


# --- CircleCI ---------------------------------------------------------------------

CIRCLE = {
    "CIRCLECI": "true",
    "CIRCLE_SHA1": SHA,
    "CIRCLE_BRANCH": "main",
    "CIRCLE_USERNAME": "dave",
    "CIRCLE_WORKFLOW_ID": "6a6b1c2d-0000-4000-8000-000000000001",
    "CIRCLE_BUILD_NUM": "311",
    "CIRCLE_BUILD_URL": "https://circleci.com/gh/org/app/311",
    "CIRCLE_PROJECT_USERNAME": "org",
    "CIRCLE_PROJECT_REPONAME": "app",
    "CIRCLE_REPOSITORY_URL": "git@github.com:org/app.git",
    "CIRCLE_JOB": "deploy",
}


def test_circleci() -> None:
    assert detect_ci(CIRCLE) == CiInfo(
        platform="circleci",
        commit_sha=SHA,
        branch="main",
        actor="dave",
        run_id="6a6b1c2d-0000-4000-8000-000000000001",
        run_number="311",
        run_url="https://circleci.com/gh/org/app/311",
        repository="org/app",
        job="deploy",
    )
    tag = {**CIRCLE, "CIRCLE_TAG": "v1.0.0"}
    tag.pop("CIRCLE_BRANCH")
    tag.pop("CIRCLE_PROJECT_REPONAME")
    info = detect_ci(tag)
    assert info.branch is None
    assert info.repository == "git@github.com:org/app.git"


# --- Buildkite --------------------------------------------------------------------

BUILDKITE = {
    "BUILDKITE": "true",
    "BUILDKITE_COMMIT": SHA,
    "BUILDKITE_BRANCH": "main",
    "BUILDKITE_TAG": "",
    "BUILDKITE_BUILD_CREATOR": "Erin",
    "BUILDKITE_BUILD_ID": "b81ed283-58b7-4925-aa4a-d3da0eafcf2b",
    "BUILDKITE_BUILD_NUMBER": "59034",
    "BUILDKITE_BUILD_URL": "https://buildkite.com/org/app/builds/59034",
    "BUILDKITE_REPO": "https://x-access-token:ghs_abc@github.com/org/app.git",
    "BUILDKITE_LABEL": ":rocket: deploy",
}


def test_buildkite() -> None:
    assert detect_ci(BUILDKITE) == CiInfo(
        platform="buildkite",
        commit_sha=SHA,
        branch="main",
        actor="Erin",
        run_id="b81ed283-58b7-4925-aa4a-d3da0eafcf2b",
        run_number="59034",
        run_url="https://buildkite.com/org/app/builds/59034",
        repository="https://github.com/org/app.git",
        job=":rocket: deploy",
    )
    info = detect_ci({**BUILDKITE, "BUILDKITE_COMMIT": "HEAD", "BUILDKITE_TAG": "v3.0.0"})
    assert (info.commit_sha, info.branch) == (None, None)


# --- Azure Pipelines --------------------------------------------------------------

AZURE = {
    "TF_BUILD": "True",
    "BUILD_SOURCEVERSION": SHA,
    "BUILD_SOURCEBRANCH": "refs/heads/feature/pay",
    "BUILD_SOURCEBRANCHNAME": "pay",
    "BUILD_REQUESTEDFOR": "Frank Example",
    "BUILD_BUILDID": "4711",
    "BUILD_BUILDNUMBER": "20261122.3",
    "SYSTEM_COLLECTIONURI": "https://dev.azure.com/contoso/",
    "SYSTEM_TEAMPROJECT": "Web Shop",
    "BUILD_REPOSITORY_NAME": "contoso/shop",
    "SYSTEM_JOBDISPLAYNAME": "Deploy",
}


def test_azure_pipelines() -> None:
    assert detect_ci(AZURE) == CiInfo(
        platform="azure-pipelines",
        commit_sha=SHA,
        branch="feature/pay",
        actor="Frank Example",
        run_id="4711",
        run_number="20261122.3",
        run_url="https://dev.azure.com/contoso/Web%20Shop/_build/results?buildId=4711",
        repository="contoso/shop",
        job="Deploy",
    )


@pytest.mark.parametrize(
    ("extra", "branch"),
    [
        ({"BUILD_SOURCEBRANCH": "refs/tags/v1.0.0"}, None),
        ({"BUILD_SOURCEBRANCH": "refs/pull/9/merge"}, None),
        (
            {
                "BUILD_SOURCEBRANCH": "refs/pull/9/merge",
                "SYSTEM_PULLREQUEST_SOURCEBRANCH": "refs/heads/fix",
            },
            "fix",
        ),
        (
            {"BUILD_SOURCEBRANCH": "refs/pull/9/merge", "SYSTEM_PULLREQUEST_SOURCEBRANCH": "fix2"},
            "fix2",
        ),
    ],
)
def test_azure_branches(extra: dict[str, str], branch: str | None) -> None:
    assert detect_ci({**AZURE, **extra}).branch == branch


# --- Bitbucket Pipelines ----------------------------------------------------------

BITBUCKET = {
    "BITBUCKET_BUILD_NUMBER": "23704",
    "BITBUCKET_COMMIT": SHA,
    "BITBUCKET_BRANCH": "main",
    "BITBUCKET_REPO_FULL_NAME": "team/app",
    "BITBUCKET_PIPELINE_UUID": "{1a2b3c4d-0000-4000-8000-000000000002}",
    "BITBUCKET_STEP_TRIGGERER_UUID": "{99999999-0000-4000-8000-000000000003}",
}


def test_bitbucket_pipelines() -> None:
    assert detect_ci(BITBUCKET) == CiInfo(
        platform="bitbucket-pipelines",
        commit_sha=SHA,
        branch="main",
        actor=None,
        run_id="{1a2b3c4d-0000-4000-8000-000000000002}",
        run_number="23704",
        run_url="https://bitbucket.org/team/app/pipelines/results/23704",
        repository="team/app",
        job=None,
    )
    tag = {**BITBUCKET, "BITBUCKET_TAG": "v1.0.0"}
    tag.pop("BITBUCKET_BRANCH")
    assert detect_ci(tag).branch is None


# --- shared behaviour -------------------------------------------------------------


def test_blank_variables_count_as_unset() -> None:
    info = detect_ci({**GITHUB, "GITHUB_ACTOR": "  ", "GITHUB_JOB": ""})
    assert info.actor is None
    assert info.job is None


def test_first_platform_wins_in_fixed_order() -> None:
    assert detect_ci({**JENKINS, **GITHUB}).platform == "github-actions"
    assert detect_ci({**JENKINS, **GITLAB}).platform == "gitlab-ci"


def test_merged_over_takes_missing_fields_from_other() -> None:
    ci = CiInfo(platform="github-actions", commit_sha="aaa", branch=None, actor="octocat")
    local = CiInfo(commit_sha="bbb", branch="main", actor="Local Dev", repository="git@x:y.git")
    assert ci.merged_over(local) == CiInfo(
        platform="github-actions",
        commit_sha="aaa",
        branch="main",
        actor="octocat",
        repository="git@x:y.git",
    )
    assert CiInfo().merged_over(local) == local
    assert local.merged_over(CiInfo()) == local


def test_as_dict_holds_set_fields_only() -> None:
    assert CiInfo(platform="jenkins", run_id="7").as_dict() == {
        "platform": "jenkins",
        "run_id": "7",
    }


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:pass@github.com/org/app.git", "https://github.com/org/app.git"),
        ("https://ghp_token@github.com/org/app.git", "https://github.com/org/app.git"),
        ("http://a:b@c@host:8080/x", "http://host:8080/x"),
        ("ssh://git@github.com/org/app.git", "ssh://git@github.com/org/app.git"),
        ("ssh://git:secret@host/app.git", "ssh://host/app.git"),
        ("git@github.com:org/app.git", "git@github.com:org/app.git"),
        ("https://github.com/org/app.git", "https://github.com/org/app.git"),
        ("/srv/git/app.git", "/srv/git/app.git"),
        ("https://github.com/org/app@v2.git", "https://github.com/org/app@v2.git"),
    ],
)
def test_strip_url_credentials(url: str, expected: str) -> None:
    assert strip_url_credentials(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("gh:org/app.git", "https://github.com/org/app.git"),
        ("git@github.com:org/app.git", "ssh://git@github.com/org/app.git"),
        # The longest prefix wins, wherever it is in the configuration.
        ("gh:mirror/app.git", "https://mirror.example.com/app.git"),
        ("https://other.example.com/x.git", "https://other.example.com/x.git"),
    ],
)
def test_rewritten_url_takes_the_longest_insteadof_prefix(url: str, expected: str) -> None:
    rules = [
        ("gh:", "https://github.com/"),
        ("git@github.com:", "ssh://git@github.com/"),
        ("gh:mirror/", "https://mirror.example.com/"),
    ]
    assert rewritten_url(url, rules) == expected


def test_rewritten_url_without_rules_is_the_url() -> None:
    assert rewritten_url("gh:org/app.git", []) == "gh:org/app.git"
