"""``shipmate completion bash|zsh|fish``: the scripts are valid for their shell and
complete commands, subcommands, flags and choices from the parser tree."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from shipmate.cli import build_parser, main
from shipmate.cli.completion import command_tree, script


def _complete_bash(tmp_path: Path, *words: str) -> list[str]:
    """What bash's completion function offers for the words typed (the last is being typed)."""
    path = tmp_path / "shipmate.bash"
    path.write_text(script("bash"))
    typed = " ".join(f"'{w}'" for w in words)
    program = (
        f"source {path}\n"
        f"COMP_WORDS=(shipmate {typed}); COMP_CWORD={len(words)}\n"
        "_shipmate\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.split()


def test_the_command_prints_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "bash"]) == 0
    assert "complete -F _shipmate shipmate" in capsys.readouterr().out


def test_the_tree_has_commands_flags_and_choices() -> None:
    nodes = {n.path: n for n in command_tree(build_parser())}
    assert "record" in nodes["shipmate"].commands
    assert "add" in nodes["shipmate gates"].commands
    record = nodes["shipmate record"]
    assert "--status" in record.flags and "--status" in record.valued
    assert record.choices["--kind"] == ("deploy", "rollback", "rollforward")
    assert nodes["shipmate completion"].choices == {}


def test_bash_script_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "shipmate.bash"
    path.write_text(script("bash"))
    subprocess.run(["bash", "-n", str(path)], check=True, timeout=60)


def test_bash_completes_commands_subcommands_flags_and_choices(tmp_path: Path) -> None:
    assert _complete_bash(tmp_path, "rec") == ["record"]
    assert _complete_bash(tmp_path, "gates", "se") == ["set-mode"]
    assert _complete_bash(tmp_path, "history", "--prod") == ["--product"]
    assert _complete_bash(tmp_path, "record", "--env", "prod", "--kind", "roll") == [
        "rollback",
        "rollforward",
    ]
    # A flag's value is not taken for a command: "--product gates" stays in record.
    assert "--status" in _complete_bash(tmp_path, "record", "--product", "gates", "--st")


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_script_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "_shipmate"
    path.write_text(script("zsh"))
    subprocess.run(["zsh", "-n", str(path)], check=True, timeout=60)


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completes_a_command(tmp_path: Path) -> None:
    path = tmp_path / "_shipmate"
    path.write_text(script("zsh"))
    # compadd only works inside the completion system: stand in for it, record its words.
    program = (
        f"compdef() {{ :; }}; compadd() {{ shift; print -l -- $@; }}; source {path}\n"
        "words=(shipmate gates se); CURRENT=3; _shipmate\n"
    )
    done = subprocess.run(
        ["zsh", "-f", "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert "set-mode" in done.stdout.split()


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_script_is_valid_and_completes(tmp_path: Path) -> None:
    path = tmp_path / "shipmate.fish"
    path.write_text(script("fish"))
    subprocess.run(["fish", "--no-execute", str(path)], check=True, timeout=60)
    done = subprocess.run(
        ["fish", "--no-config", "-c", f"source {path}; complete -C 'shipmate rec'"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "record" in done.stdout.split()
    done = subprocess.run(
        ["fish", "--no-config", "-c", f"source {path}; complete -C 'shipmate history --kind '"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["deploy", "rollback", "rollforward"]
