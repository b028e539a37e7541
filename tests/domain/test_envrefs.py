"""``${NAME}`` references in configuration: one resolver for settings and drain checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipmate.config import load_settings
from shipmate.domain.envrefs import resolve_env_refs
from shipmate.engine.drain.config import parse_drain_config
from shipmate.errors import ConfigError


def test_each_reference_is_replaced_and_other_text_kept() -> None:
    env = {"HOST": "db.internal", "PORT": "5432"}
    assert resolve_env_refs("postgresql://${HOST}:${PORT}/x $HOST", env, "url") == (
        "postgresql://db.internal:5432/x $HOST"
    )


def test_a_variable_not_set_names_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_env_refs("${MISSING}", {}, "drain.url")
    assert caught.value.to_dict() == {
        "code": "config_error",
        "message": "drain.url refers to ${MISSING}, which is not set in the environment",
        "field": "drain.url",
    }


def test_the_settings_file_and_a_drain_check_resolve_alike(tmp_path: Path) -> None:
    (tmp_path / "shipmate.toml").write_text('database_url = "sqlite:///${DB_FILE}"\n')
    settings = load_settings(cwd=tmp_path, env={"DB_FILE": "/tmp/x.db"})
    assert settings.database_url == "sqlite:////tmp/x.db"
    with pytest.raises(ConfigError, match=r"database_url refers to \$\{DB_FILE\}"):
        load_settings(cwd=tmp_path, env={})
    drain = parse_drain_config({"type": "http", "url": "http://${APP}/pending"}, env={"APP": "a"})
    assert "http://a/pending" in repr(drain)
    with pytest.raises(ConfigError, match=r"drain.url refers to \$\{APP\}"):
        parse_drain_config({"type": "http", "url": "http://${APP}/pending"}, env={})
