"""Secrets in the CLI: token files and stdin instead of --token, warnings for literal and
exposed tokens, and no password or token in any error message."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.cli import main
from shipmate.config import load_settings
from shipmate.domain.redaction import redact, redact_url, secrets_of_url
from shipmate.errors import ConfigError
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from tests.web.liveserver import LiveServer, free_port

PASSWORD = "Sup3r-s3cret"
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Run:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("SHIPMATE_RETRY_SECONDS", "0")

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


# -- redaction, the pure part ----------------------------------------------------------


def test_redact_masks_url_passwords_keys_and_known_secrets() -> None:
    assert redact("postgresql://app:s3cret@db:5432/x") == "postgresql://app:***@db:5432/x"
    assert redact("see https://u:p%40ss@host/ now") == "see https://u:***@host/ now"
    assert redact("postgresql://db/x?sslmode=require&password=hunter2") == (
        "postgresql://db/x?sslmode=require&password=***"
    )
    assert redact("host=db password='a b' user=x") == "host=db password=*** user=x"
    assert redact("token shm_0123456789_abcDEF-_x refused") == "token shm_*** refused"
    assert redact("the password is p@ss!", ["p@ss!"]) == "the password is ***"
    assert redact("encoded p%40ss, decoded p@ss", ["p%40ss"]) == "encoded ***, decoded ***"
    assert redact("postgresql://app@db/x") == "postgresql://app@db/x"  # no password: as is
    assert redact_url("postgresql://app:pw@db/x") == "postgresql://app:***@db/x"
    assert redact_url("nonsense app:pw@db") == "***@db"
    assert secrets_of_url("postgresql://app:p%40ss@db/x") == ["p%40ss", "p@ss"]
    assert secrets_of_url("sqlite:///x.db") == []


# -- token files, stdin and warnings -----------------------------------------------------


def _token_file(tmp_path: Path, token: str, mode: int = 0o600) -> Path:
    path = tmp_path / "token"
    path.write_text(f"{token}\n", encoding="utf-8")
    path.chmod(mode)
    return path


def test_token_file_and_stdin(tmp_path: Path) -> None:
    path = _token_file(tmp_path, "shm_abc_def")
    by_env = load_settings(cwd=tmp_path, env={"SHIPMATE_TOKEN_FILE": str(path)})
    assert (by_env.token, by_env.token_file, by_env.warnings) == ("shm_abc_def", str(path), ())
    by_flag = load_settings(cwd=tmp_path, env={}, overrides={"token_file": str(path)})
    assert by_flag.token == "shm_abc_def"
    piped = load_settings(
        cwd=tmp_path, env={}, overrides={"token_file": "-"}, stdin=io.StringIO("shm_x_y\n")
    )
    assert piped.token == "shm_x_y"
    # a higher layer wins whichever form it uses
    over = load_settings(
        cwd=tmp_path, env={"SHIPMATE_TOKEN_FILE": str(path)}, overrides={"token": "shm_flag_z"}
    )
    assert (over.token, over.token_file) == ("shm_flag_z", None)


def test_token_file_problems(tmp_path: Path) -> None:
    path = _token_file(tmp_path, "shm_abc_def")
    with pytest.raises(ConfigError) as both:
        load_settings(
            cwd=tmp_path, env={"SHIPMATE_TOKEN": "shm_a_b", "SHIPMATE_TOKEN_FILE": str(path)}
        )
    assert both.value.field == "token_file"
    with pytest.raises(ConfigError) as missing:
        load_settings(cwd=tmp_path, env={"SHIPMATE_TOKEN_FILE": str(tmp_path / "nope")})
    assert "cannot read" in missing.value.message
    two = tmp_path / "two"
    two.write_text("shm_a_b shm_c_d\n", encoding="utf-8")
    with pytest.raises(ConfigError) as many:
        load_settings(cwd=tmp_path, env={"SHIPMATE_TOKEN_FILE": str(two)})
    assert "exactly one API key" in many.value.message
    loose = _token_file(tmp_path, "shm_abc_def", mode=0o644)
    warned = load_settings(cwd=tmp_path, env={"SHIPMATE_TOKEN_FILE": str(loose)})
    assert len(warned.warnings) == 1 and "chmod 600" in warned.warnings[0]


def test_a_literal_token_in_the_config_file_warns(tmp_path: Path) -> None:
    (tmp_path / "shipmate.toml").write_text('token = "shm_0123456789_literal"\n', "utf-8")
    (tmp_path / ".git").mkdir()
    settings = load_settings(cwd=tmp_path, env={})
    assert len(settings.warnings) == 1 and "literal API key" in settings.warnings[0]
    (tmp_path / "shipmate.toml").write_text('token = "${CI_KEY}"\n', "utf-8")
    by_reference = load_settings(cwd=tmp_path, env={"CI_KEY": "shm_a_b"})
    assert by_reference.token == "shm_a_b" and by_reference.warnings == ()


@pytest.fixture
def live(ctx: Context) -> Iterator[LiveServer]:
    with LiveServer(create_app(ctx.settings, ctx=ctx, server=ServerSettings())) as server:
        yield server


def test_the_cli_reads_the_token_from_a_file_or_stdin_and_warns_about_token(
    run: Run, live: LiveServer, ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = create_key(ctx, "ci", "read").token
    path = _token_file(tmp_path, token)
    code, out, err = run("--url", live.url, "--token-file", str(path), "current", "--json")
    assert (code, err) == (0, "") and '"cells"' in out
    monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
    code, out, err = run("--url", live.url, "--token-file", "-", "current", "--json")
    assert (code, err) == (0, "")
    code, out, err = run("--url", live.url, "--token", token, "current", "--json")
    assert code == 0
    assert err.startswith("shipmate: warning: --token puts the API key in the process list")
    assert token not in err
    monkeypatch.setenv("SHIPMATE_TOKEN_FILE", str(path))
    code, out, err = run("--url", live.url, "current", "--json")
    assert (code, err) == (0, "")


# -- no secret in any error --------------------------------------------------------------


def _assert_hidden(err: str, *secrets: str) -> None:
    assert err.startswith("shipmate: error"), err
    for secret in secrets:
        assert secret not in err, err


def test_a_bad_database_url_does_not_echo_its_password(run: Run) -> None:
    for url in (
        f"postgresql://app:{PASSWORD}@db:54x2/shipmate",  # a port that is not a number
        f"postgresql://app:{PASSWORD}@[::1/shipmate",
        f"mysql://app:{PASSWORD}@db/shipmate",
        f"nonsense app:{PASSWORD}@db",
    ):
        code, _, err = run("--database-url", url, "history")
        assert code == 2, (url, err)
        _assert_hidden(err, PASSWORD)


def test_a_refused_database_connection_does_not_echo_the_password(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded = "p%40ss-" + PASSWORD
    url = f"postgresql://app:{encoded}@127.0.0.1:{free_port()}/shipmate"
    for argv in (
        ("history",),
        ("db", "current"),
        ("db", "upgrade"),
        ("db", "check"),
        ("keys", "list"),
    ):
        code, _, err = run("--database-url", url, *argv)
        assert code == 1, (argv, err)
        _assert_hidden(err, PASSWORD, "p@ss-", encoded)
        assert "127.0.0.1" in err  # where it tried is fine; the password is not
    monkeypatch.setenv("SHIPMATE_DATABASE_URL", url)  # serve hands it to its workers
    code, _, err = run("serve", "--port", str(free_port()))
    assert code == 1
    _assert_hidden(err, PASSWORD, "p@ss-", encoded)


def test_remote_mode_never_echoes_a_password_or_the_token(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "shm_0123456789_" + PASSWORD
    port = free_port()
    code, _, err = run("--url", f"http://ci:{PASSWORD}@127.0.0.1:{port}", "history")
    assert code == 2 and "holds a user name or password" in err
    _assert_hidden(err, PASSWORD)
    code, _, err = run("--url", f"ftp://ci:{PASSWORD}@example.com", "history")
    assert code == 2
    _assert_hidden(err, PASSWORD)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, _, err = run("--url", f"http://127.0.0.1:{port}", "--token-file", "-", "history")
    assert code == 2 and "exactly one API key" in err  # nothing on stdin
    code, _, err = run("--url", f"http://127.0.0.1:{port}/x y", "history")
    _assert_hidden(err, PASSWORD)
    code, _, err = run("--url", f"http://127.0.0.1:{port}", "--token", token, "history")
    assert code == 1 and "cannot reach" in err
    assert PASSWORD not in err and token not in err


def test_the_sqlite_file_and_its_folder_are_private(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous = os.umask(0o022)
    try:
        folder = tmp_path / "fresh" / "data"
        code, _, err = run("--database-url", f"sqlite:///{folder / 'shipmate.db'}", "history")
    finally:
        os.umask(previous)
    assert (code, err) == (0, "")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "shipmate.db").stat().st_mode) == 0o600
    for extra in folder.glob("shipmate.db-*"):
        assert stat.S_IMODE(extra.stat().st_mode) == 0o600, extra
    # the default data dir too
    data = tmp_path / "default-data"
    monkeypatch.setenv("SHIPMATE_DATA_DIR", str(data))
    assert run("history")[0] == 0
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "shipmate.db").stat().st_mode) == 0o600
