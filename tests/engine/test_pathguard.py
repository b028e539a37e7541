"""A name filled into a path template never leads outside the template's root.

The versions here (``1.0.0/../../evil``) are refused by every write today; an
older shipmate may have stored them, so the engine refuses them too, before it
starts or points at anything.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from shipmate.domain.deploy.config import parse_deploy_config
from shipmate.domain.deploy.model import DeployConfig
from shipmate.engine.release import DeployContext, Release
from shipmate.engine.switches.factory import SymlinkSwitch, build_switch
from shipmate.engine.targets.factory import CommandTarget, ProcessTarget, build_target
from shipmate.errors import InvalidInputError
from tests.engine.nginxctl import free_port

EVIL = Release.of("api", "1.0.0/../../evil", 1)


def _evil_program(tmp_path: Path) -> tuple[Path, Path]:
    """``<tmp>/evil/bin/app``, which leaves a mark when it runs; and the mark."""
    mark = tmp_path / "ran"
    program = tmp_path / "evil" / "bin" / "app"
    program.parent.mkdir(parents=True)
    program.write_text(f"#!/bin/sh\ntouch {mark}\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "releases" / "1.0.0").mkdir(parents=True)
    return program, mark


def _config(tmp_path: Path, target: dict[str, object]) -> DeployConfig:
    return parse_deploy_config(
        {
            "slots": {"blue": free_port(), "green": free_port()},
            "target": target,
            "switch": {
                "type": "symlink",
                "link": str(tmp_path / "current"),
                "releases_dir": str(tmp_path / "releases"),
            },
        }
    )


def test_process_target_never_starts_a_program_outside_the_releases_folder(
    tmp_path: Path,
) -> None:
    _program, mark = _evil_program(tmp_path)
    releases = tmp_path / "releases"
    config = _config(tmp_path, {"type": "process", "command": f"{releases}/{{version}}/bin/app"})
    target = build_target(config, product="api", state_dir=str(tmp_path / "state"))
    assert isinstance(target, ProcessTarget)
    with pytest.raises(InvalidInputError) as caught:
        target.start(EVIL, "green")
    assert caught.value.field == "deploy.target.command"
    assert "outside" in caught.value.message and str(releases) in caught.value.message
    assert not mark.exists()
    assert not target.intent_file("green").exists()


@pytest.mark.parametrize("key", ["artifact", "cwd"])
def test_process_target_artifact_and_cwd_stay_inside(tmp_path: Path, key: str) -> None:
    _evil_program(tmp_path)
    releases = tmp_path / "releases"
    config = _config(
        tmp_path, {"type": "process", "command": "true", key: f"{releases}/{{version}}/bin"}
    )
    target = build_target(config, product="api", state_dir=str(tmp_path / "state"))
    with pytest.raises(InvalidInputError) as caught:
        if key == "artifact":
            target.check_artifact(EVIL)
        else:
            target.start(EVIL, "green")
    assert caught.value.field == f"deploy.target.{key}"


def test_command_target_never_runs_a_command_outside(tmp_path: Path) -> None:
    _program, mark = _evil_program(tmp_path)
    releases = tmp_path / "releases"
    config = _config(
        tmp_path,
        {
            "type": "command",
            "start": f"{releases}/{{version}}/bin/app",
            "stop": "true",
            "status": "true",
        },
    )
    target = build_target(config, product="api", state_dir=str(tmp_path / "state"))
    assert isinstance(target, CommandTarget)
    with pytest.raises(InvalidInputError) as caught:
        target.start(EVIL, "green")
    assert caught.value.field == "deploy.target"
    assert not mark.exists()


def test_symlink_switch_never_points_outside_the_releases_folder(tmp_path: Path) -> None:
    _evil_program(tmp_path)
    config = _config(tmp_path, {"type": "process", "command": "true"})
    switch = build_switch(config, product="api", state_dir=str(tmp_path / "state"))
    assert isinstance(switch, SymlinkSwitch)
    with pytest.raises(InvalidInputError) as caught:
        switch.switch_to(Release.of("api", "../evil"), "green")
    assert caught.value.field == "deploy.switch.target_template"
    assert not os.path.lexists(tmp_path / "current")
    switch.switch_to(Release.of("api", "1.0.0"), "green")
    assert os.readlink(tmp_path / "current") == str(tmp_path / "releases" / "1.0.0")


def test_products_never_share_a_state_folder(tmp_path: Path) -> None:
    config = _config(tmp_path, {"type": "process", "command": "true"})
    folders = {
        DeployContext.from_config(
            config,
            product=name,
            state_dir=str(tmp_path),
        ).product_dir
        for name in ("a/b", "a:b", "a_b", "..", "a%2Fb")
    }
    assert len(folders) == 5
    assert all(folder.parent == tmp_path for folder in folders)
    assert tmp_path / "a_b" in folders
