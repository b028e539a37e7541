"""Which [deploy] table applies to a product, validated with errors naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shipmate.config import Settings, load_settings
from shipmate.errors import ConfigError
from shipmate.services.deploys.config import load_product_deploy, product_deploy_from_params
from tests.runs.conftest import fake_table


def settings(**sections: Any) -> Settings:
    return Settings(data_dir="/srv/shipmate", sections=sections)


def test_per_product_table() -> None:
    found = load_product_deploy(settings(products={"api": {"deploy": fake_table()}}), "api")
    assert found.prefix == "products.api.deploy"
    assert [s.name for s in found.config.slots] == ["blue", "green"]
    assert found.state_dir == "/srv/shipmate/deploy"
    again = product_deploy_from_params("api", {"deploy": found.to_params()})
    assert again.config == found.config and again.state_dir == found.state_dir


def test_top_level_table_names_its_product() -> None:
    table = {**fake_table(), "product": "api"}
    found = load_product_deploy(settings(deploy=table), "api")
    assert found.prefix == "deploy" and "product" not in found.raw
    with pytest.raises(ConfigError, match="no deploy configuration for web") as caught:
        load_product_deploy(settings(deploy=table), "web")
    assert caught.value.field == "products.web.deploy"


def test_top_level_table_uses_the_product_setting() -> None:
    config = Settings(product="api", sections={"deploy": fake_table()})
    assert load_product_deploy(config, "api").prefix == "deploy"


def test_top_level_table_without_a_product_is_an_error() -> None:
    with pytest.raises(ConfigError, match='add product = "api" to \\[deploy\\]') as caught:
        load_product_deploy(settings(deploy=fake_table()), "api")
    assert caught.value.field == "deploy.product"


def test_both_tables_for_one_product_is_an_error() -> None:
    both = settings(
        deploy={**fake_table(), "product": "api"}, products={"api": {"deploy": fake_table()}}
    )
    with pytest.raises(ConfigError, match="keep one"):
        load_product_deploy(both, "api")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"keep_warm": "long"}, "products.api.deploy.keep_warm"),
        ({"health": {"interval": -1}}, "products.api.deploy.health.interval"),
        (
            {"switch": {"type": "nginx", "upstream_name": "app"}},
            "products.api.deploy.switch.upstream_file",
        ),
        ({"colour": "blue"}, "products.api.deploy.colour"),
    ],
)
def test_errors_name_the_key(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_product_deploy(settings(products={"api": {"deploy": fake_table(**change)}}), "api")
    assert caught.value.field == field
    assert caught.value.message.startswith(field.rsplit(".", 1)[0])


def test_read_from_shipmate_toml(tmp_path: Path) -> None:
    (tmp_path / "shipmate.toml").write_text(
        """
[products.api.deploy]
keep_warm = 5
[products.api.deploy.target]
type = "process"
command = "python -m shipmate.demo.app --port {port}"
[products.api.deploy.switch]
type = "nginx"
upstream_file = "/etc/nginx/conf.d/api-upstream.conf"
upstream_name = "api"
[products.api.drain]
type = "grace"
""",
        encoding="utf-8",
    )
    loaded = load_settings(cwd=tmp_path, env={"HOME": str(tmp_path)})
    found = load_product_deploy(loaded, "api")
    assert found.config.keep_warm == 5
    assert found.config.target.command[-1] == "{port}"  # type: ignore[union-attr]
