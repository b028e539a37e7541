"""The action runner: real shell processes, real SQLite and PostgreSQL databases."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipmate.domain.releases.planning import ReleaseAction
from shipmate.engine.actions import LocalActionRunner
from shipmate.engine.shell_actions import MAX_OUTPUT_BYTES, run_shell
from shipmate.engine.sql_actions import parse_database_url, run_sql
from shipmate.engine.sql_statements import (
    find_transaction_control,
    split_postgres_statements,
    split_sqlite_statements,
)
from tests.conftest import require_real_part
from tests.releases.conftest import AppDb

BASE_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


# -- shell -----------------------------------------------------------------------------


def test_shell_gets_exactly_its_env_and_captures_both_streams(tmp_path: Path) -> None:
    outcome = run_shell(
        'echo "to stdout $GREETING"; echo "to stderr" >&2; pwd',
        env={**BASE_ENV, "GREETING": "hello"},
        timeout=30,
        cwd=str(tmp_path),
    )
    assert outcome.ok, outcome
    assert outcome.exit_code == 0
    lines = outcome.output.splitlines()
    assert lines == ["to stdout hello", "to stderr", str(tmp_path)]


def test_shell_failure_reports_status_and_last_line() -> None:
    outcome = run_shell(
        "echo working; echo 'relation missing' >&2; exit 3", env=BASE_ENV, timeout=30
    )
    assert not outcome.ok
    assert outcome.exit_code == 3
    assert outcome.error == "exited with status 3: relation missing"
    assert "working" in outcome.output


def test_shebang_script_runs_with_its_interpreter(tmp_path: Path) -> None:
    body = "#!/usr/bin/env python3\nimport os\nprint('py', os.environ['SHIPMATE_VERSION'])\n"
    outcome = run_shell(body, env={**BASE_ENV, "SHIPMATE_VERSION": "1.2.0"}, timeout=30)
    assert outcome.ok, outcome
    assert outcome.output.strip() == "py 1.2.0"


def test_shell_timeout_kills_the_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "still-running"
    outcome = run_shell(
        f"echo started; (sleep 3; touch {marker}) & sleep 30", env=BASE_ENV, timeout=0.5
    )
    assert not outcome.ok
    assert outcome.timed_out
    assert outcome.error == "did not finish within 0.5 s and was stopped"
    assert "started" in outcome.output
    # The background child was in the killed group: it never gets to touch the file.
    import time

    time.sleep(3.5)
    assert not marker.exists()


def test_output_is_bounded_keeping_head_and_tail() -> None:
    outcome = run_shell(
        "echo FIRST; head -c 300000 /dev/zero | tr '\\0' 'x'; echo; echo LAST",
        env=BASE_ENV,
        timeout=30,
    )
    assert outcome.ok
    assert outcome.output.startswith("FIRST\n")
    assert outcome.output.rstrip().endswith("LAST")
    assert "bytes of output left out" in outcome.output
    assert len(outcome.output.encode()) < MAX_OUTPUT_BYTES + 200


def test_missing_interpreter_is_an_outcome_not_an_exception() -> None:
    outcome = run_shell("#!/nonexistent/interpreter\necho hi\n", env=BASE_ENV, timeout=30)
    assert not outcome.ok
    assert outcome.exit_code == 126
    assert outcome.error is not None and "could not be started" in outcome.error


# -- splitting -------------------------------------------------------------------------


def test_sqlite_split_keeps_triggers_strings_and_comments_whole() -> None:
    script = """
    -- a comment; with a semicolon
    CREATE TABLE a (id INTEGER, note TEXT DEFAULT 'x;y');
    CREATE TRIGGER t AFTER INSERT ON a BEGIN
        UPDATE a SET note = 'z' WHERE id = NEW.id;
        SELECT 1;
    END;
    /* block; comment */
    INSERT INTO a (id) VALUES (1)
    """
    statements = split_sqlite_statements(script)
    assert len(statements) == 3
    assert statements[0].endswith("DEFAULT 'x;y');")
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    assert statements[2].endswith("VALUES (1)")


def test_postgres_split_respects_dollar_quotes_and_escapes() -> None:
    script = """
    CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END; $body$ LANGUAGE plpgsql;
    DO $$ BEGIN PERFORM 1; END $$;
    SELECT E'it\\'s; fine', 'a''b;c', "weird;name" FROM x; /* c; /* nested; */ still */
    SELECT 2
    """
    statements = split_postgres_statements(script)
    assert len(statements) == 4
    assert [s.split()[0] for s in statements[:3]] == ["CREATE", "DO", "SELECT"]
    assert statements[0].endswith("LANGUAGE plpgsql;")
    assert statements[2].endswith("FROM x;")
    # The nested comment belongs to the last statement, which has no semicolon.
    assert statements[3].startswith("/* c; /* nested; */ still */")
    assert statements[3].endswith("SELECT 2")


@pytest.mark.parametrize(
    ("script", "found"),
    [
        ("BEGIN; CREATE TABLE a (id int); COMMIT;", "BEGIN;"),
        ("CREATE TABLE a (id int);\nrollback;", "rollback;"),
        ("start transaction; select 1;", "start transaction;"),
        ("CREATE TABLE a (id int); SAVEPOINT s;", "SAVEPOINT s;"),
        ("DO $$ BEGIN PERFORM 1; END $$;", None),
        ("CREATE TABLE start_log (id int);", None),
    ],
)
def test_transaction_control_is_found(script: str, found: str | None) -> None:
    assert find_transaction_control(split_postgres_statements(script)) == found


# -- databases ------------------------------------------------------------------------


def test_database_urls_parse_without_leaking_passwords(tmp_path: Path) -> None:
    pg = parse_database_url("postgresql+psycopg://app:s3cret@db.example:5433/orders", ref="DB")
    assert pg.dialect == "postgresql"
    assert pg.label == "postgresql database orders on db.example:5433"
    assert "s3cret" not in pg.label
    assert pg.conninfo == "postgresql://app:s3cret@db.example:5433/orders"
    assert pg.scrub("password s3cret leaked") == "password *** leaked"
    assert parse_database_url("postgres://u@h/d", ref="DB").dialect == "postgresql"
    lite = parse_database_url(f"sqlite:///{tmp_path}/a.db", ref="DB")
    assert lite.path == f"{tmp_path}/a.db"
    for bad, text in [
        ("not a url", "does not hold a database URL"),
        ("sqlite://", "must name a database file"),
        ("mysql://u@h/d", "SQL actions run on sqlite or postgresql"),
    ]:
        with pytest.raises(ValueError, match=text) as info:
            parse_database_url(bad, ref="DB")
        assert bad not in str(info.value) or bad == "sqlite://"


def test_sql_script_runs_in_one_transaction(any_app_db: AppDb) -> None:
    env = {"APP_DB_URL": any_app_db.url}
    ok = run_sql(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT);\n"
        "INSERT INTO orders (id, note) VALUES (1, 'a;b'), (2, 'c');",
        database_ref="APP_DB_URL",
        env=env,
        timeout=30,
    )
    assert ok.ok, ok
    assert "2 statement(s) in one transaction" in ok.output
    assert "statement 2: INSERT INTO orders (id, note) VALUES (1, 'a;b'), (2, 'c'); (2 rows)" in (
        ok.output
    )
    assert ok.output.endswith("committed")
    assert "orders" in any_app_db.tables()

    # The second statement fails: the table of the first one must not exist.
    bad = run_sql(
        "CREATE TABLE first_table (id INTEGER);\nINSERT INTO no_such_table VALUES (1);",
        database_ref="APP_DB_URL",
        env=env,
        timeout=30,
    )
    assert not bad.ok
    assert bad.error is not None
    assert bad.error.startswith("statement 2 of 2 failed on ")
    assert "no_such_table" in bad.error
    assert "nothing of this script was applied" in bad.error
    assert "first_table" not in any_app_db.tables()


def test_sql_errors_never_show_the_password(pg_server: object, tmp_path: Path) -> None:
    from tests.releases.conftest import make_app_db

    if pg_server is None:
        require_real_part("PostgreSQL", "initdb/pg_ctl not found (apt-get install postgresql)")
    db = make_app_db("postgresql", tmp_path, _Request(pg_server))
    # Trust authentication ignores the password, so the URL with one still connects.
    url = db.url.replace("postgresql://shipmate@", "postgresql://shipmate:Sup3rSecretPw@")
    outcome = run_sql(
        "SELECT 'Sup3rSecretPw' AS leak; SELECT * FROM missing_table;",
        database_ref="APP_DB_URL",
        env={"APP_DB_URL": url},
        timeout=30,
    )
    assert not outcome.ok
    assert "Sup3rSecretPw" not in (outcome.error or "")
    assert "Sup3rSecretPw" not in outcome.output
    assert "missing_table" in (outcome.error or "")


class _Request:
    """Just enough of pytest's request for make_app_db."""

    def __init__(self, server: object) -> None:
        self._server = server

    def getfixturevalue(self, name: str) -> object:
        assert name == "pg_server"
        return self._server


def test_sql_refuses_scripts_with_their_own_transaction(any_app_db: AppDb) -> None:
    outcome = run_sql(
        "BEGIN; CREATE TABLE x (id INTEGER); COMMIT;",
        database_ref="APP_DB_URL",
        env={"APP_DB_URL": any_app_db.url},
        timeout=30,
    )
    assert not outcome.ok
    assert outcome.error is not None and "controls its own transaction" in outcome.error
    assert "x" not in any_app_db.tables()


def test_sql_reference_not_set_is_a_clear_failure() -> None:
    outcome = run_sql("SELECT 1;", database_ref="APP_DB_URL", env={}, timeout=30)
    assert not outcome.ok
    assert outcome.error is not None
    assert outcome.error.startswith(
        "database_ref APP_DB_URL: the environment variable APP_DB_URL is not set"
    )


def test_runner_dispatches_on_kind(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    runner = LocalActionRunner()
    sql = ReleaseAction.create(
        version="1.0.0",
        phase="up",
        order=10,
        kind="sql",
        name="create",
        body="CREATE TABLE t (id INTEGER);",
        database_ref="APP_DB_URL",
    )
    shell = ReleaseAction.create(
        version="1.0.0", phase="up", order=20, kind="shell", name="echo", body="echo $X"
    )
    assert runner.run(sql, env={"APP_DB_URL": f"sqlite:///{db}"}, timeout=10).ok
    out = runner.run(shell, env={**BASE_ENV, "X": "42"}, timeout=10)
    assert out.output.strip() == "42"
