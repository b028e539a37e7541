"""docs/agents.md's multi-host sections: their examples parse and their words are the code's."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipmate.domain.deploy.config import parse_deploy_config
from shipmate.domain.fleet.rollout import (
    FAILED_BEFORE_SWITCH,
    REVERTED,
    SKIPPED,
    HostProgress,
    RolloutPlan,
    batches,
    decide,
    describe_hosts,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "agents.md"
SECTIONS = ("Several hosts", "Where the configuration lives", "How shipmate compares")
OUTLINE = (
    "From zero to one host",
    "Running an agent",
    "Agent keys",
    "Deploying and rolling back remotely",
    "Several hosts",
    "Where the configuration lives",
    "When things go wrong",
    "How shipmate compares",
    "The agent protocol",
)
#: The keys that say which hosts serve (the engine's parser does not read them).
HOST_KEYS = ("hosts", "environments", "host_overrides")


def _section(name: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"\n## {name}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _toml_blocks(name: str) -> list[dict[str, Any]]:
    found = re.findall(r"```toml\n(.*?)```", _section(name), flags=re.S)
    return [tomllib.loads(block) for block in found]


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        both = isinstance(value, Mapping) and isinstance(out.get(key), Mapping)
        out[key] = _merge(out[key], value) if both else value
    return out


def test_the_outline_headings_are_kept() -> None:
    headings = re.findall(r"(?m)^## (.+)$", DOC.read_text(encoding="utf-8"))
    assert tuple(headings) == OUTLINE
    for name in SECTIONS:
        assert "(Written with" not in _section(name), name


def test_the_deploy_table_example_parses_and_its_groups_are_valid() -> None:
    [example] = _toml_blocks("Several hosts")
    table = example["products"]["api"]["deploy"]
    engine = {k: v for k, v in table.items() if k not in HOST_KEYS}
    parse_deploy_config(engine, prefix="products.api.deploy")
    assert table["hosts"] == ["web-1"]
    envs = table["environments"]
    assert envs["staging"]["strategy"] == "all" and "batch" not in envs["staging"]
    production = envs["production"]
    assert production["strategy"] == "rolling"
    three = ("web-1", "web-2", "web-3")
    # "3 hosts: 2, then 1", as the example's comment says.
    assert batches(three, production["strategy"], production["batch"]) == [three[:2], three[2:]]


def test_the_override_examples_merge_into_a_valid_table() -> None:
    [base] = _toml_blocks("Several hosts")
    agent, override = _toml_blocks("Where the configuration lives")
    assert set(agent) == {"agent"} and set(agent["agent"]) == {"url", "host", "labels"}
    table = base["products"]["api"]["deploy"]
    web2 = override["products"]["api"]["deploy"]["host_overrides"]["web-2"]
    assert not set(web2) & set(HOST_KEYS)
    merged = _merge({k: v for k, v in table.items() if k not in HOST_KEYS}, web2)
    config = parse_deploy_config(merged, prefix="products.api.deploy")
    assert merged["health"]["type"] == "http"  # merged key by key, not replaced
    assert merged["switch"]["type"] == "nginx"
    assert config is not None


def test_the_words_in_the_doc_are_what_the_rollout_says() -> None:
    text = " ".join(_section("Several hosts").split())
    mixed = describe_hosts({"web-1": "2.0.0", "web-2": "2.0.0", "web-3": "1.0.0"})
    assert f"`{mixed}`" in text
    assert f"`{describe_hosts({'web-1': '2.0.0', 'web-2': '2.0.0', 'web-3': '2.0.0'})}`" in text
    plan = RolloutPlan(("web-1", "web-2", "web-3"), "rolling", "67%")
    progress = {
        "web-1": HostProgress(REVERTED, verdict="revert"),
        "web-2": HostProgress(FAILED_BEFORE_SWITCH, failed_step="health", error="HTTP 500"),
        "web-3": HostProgress(SKIPPED),
    }
    result = decide(plan, progress).result
    assert result is not None and f"`{result.message}`" in text
