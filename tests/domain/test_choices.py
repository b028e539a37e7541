"""One reading of enum values (kinds, modes) from what a user typed."""

from __future__ import annotations

import pytest

from shipmate.domain.environments import EnvironmentKind
from shipmate.domain.environments import parse_kind as parse_environment_kind
from shipmate.domain.gates.rules import RuleMode, parse_mode
from shipmate.domain.lifecycle import DeploymentKind
from shipmate.domain.lifecycle import parse_kind as parse_deployment_kind
from shipmate.errors import InvalidInputError


def test_values_are_read_in_any_case_with_dashes_as_underscores() -> None:
    assert parse_environment_kind(" Production ") is EnvironmentKind.PRODUCTION
    assert parse_deployment_kind("ROLLBACK") is DeploymentKind.ROLLBACK
    assert parse_mode("report-only") is RuleMode.REPORT_ONLY


def test_an_unknown_value_lists_the_accepted_ones() -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_environment_kind("prod", field="kind")
    assert err.value.message == (
        "kind 'prod' is not an environment kind; use one of dev, test, staging, production"
    )
    with pytest.raises(InvalidInputError) as err:
        parse_deployment_kind("redeploy")
    assert err.value.message == (
        "kind 'redeploy' is not a deployment kind; use one of deploy, rollback, rollforward"
    )


def test_a_value_that_is_not_text_is_refused_by_name() -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_deployment_kind(3, field="kind")
    assert err.value.message == "kind must be a string" and err.value.field == "kind"
