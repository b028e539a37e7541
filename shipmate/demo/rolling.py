"""The demo's roll-forward: a fresh environment walks three versions' migrations.

The product ``ledger`` keeps a versions folder (``<demo>/ledger/versions``) with
three versions, each with SQL ``up``/``down`` actions on a demo SQLite application
database (named by the variable ``LEDGER_DB_URL``) and a shell action that reads
the ``SHIPMATE_DEP_*`` flags.  The demo syncs the folder, prints the plan for
``staging`` and applies it (``shipmate release apply``): every interim version's
actions run in order and the log names each one.  On an existing demo database
the environment is already there, so the plan is ``same`` and nothing runs.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from shipmate.cli import render
from shipmate.config import Settings
from shipmate.services.context import open_context
from shipmate.services.releases.apply import ApplyRequest, apply_release
from shipmate.services.releases.folder import read_versions_dir
from shipmate.services.releases.plans import plan_for
from shipmate.services.releases.sync import sync_versions

__all__ = ["run_rolling_demo"]

_SHELL_REPORT = (
    'echo "$SHIPMATE_VERSION $SHIPMATE_PHASE: first=$SHIPMATE_DEP_FIRST '
    'last=$SHIPMATE_DEP_LAST rollforward=$SHIPMATE_DEP_ROLLFORWARD"\n'
)

_VERSIONS: dict[str, dict[str, dict[str, str]]] = {
    "1.0.0": {
        "up": {
            "010-accounts.sql": "CREATE TABLE accounts (\n"
            "  id INTEGER PRIMARY KEY,\n  name TEXT NOT NULL\n);\n",
            "020-report.sh": _SHELL_REPORT,
        },
        "down": {"010-accounts.sql": "DROP TABLE accounts;\n"},
    },
    "1.1.0": {
        "up": {
            "010-entries.sql": "CREATE TABLE entries (\n  id INTEGER PRIMARY KEY,\n"
            "  account_id INTEGER NOT NULL REFERENCES accounts (id),\n"
            "  cents INTEGER NOT NULL\n);\n"
            "CREATE INDEX ix_entries_account ON entries (account_id);\n",
            "020-report.sh": _SHELL_REPORT,
        },
        "down": {"010-entries.sql": "DROP TABLE entries;\n"},
    },
    "1.2.0": {
        "up": {
            "010-memo.sql": "ALTER TABLE entries ADD COLUMN memo TEXT;\n",
            "020-warm-cache.sh": 'if [ "$SHIPMATE_DEP_LAST" = 1 ]; then\n'
            '  echo "warming caches for $SHIPMATE_TO_VERSION (the last version only)"\n'
            "else\n  echo skipped\nfi\n",
        },
        "down": {"010-memo.sql": "ALTER TABLE entries DROP COLUMN memo;\n"},
    },
}


def _write_versions(folder: Path) -> None:
    for version, phases in _VERSIONS.items():
        base = folder / version
        base.mkdir(parents=True, exist_ok=True)
        (base / "release.toml").write_text('database_ref = "LEDGER_DB_URL"\n', encoding="utf-8")
        for phase, files in phases.items():
            (base / phase).mkdir(exist_ok=True)
            for name, body in files.items():
                (base / phase / name).write_text(body, encoding="utf-8")


def run_rolling_demo(folder: Path) -> None:
    """Print the plan and the roll-forward of ``ledger`` to 1.2.0 in ``staging``."""
    print()
    print(
        render.colour(
            "== Rolling forward through interim versions (shipmate release apply) ==", "1"
        )
    )
    db = folder / "shipmate.db"
    settings = Settings(database_url=f"sqlite:///{db}", data_dir=str(folder))
    project = folder / "ledger"
    versions = project / "versions"
    _write_versions(versions)
    app_db = (project / "ledger-app.db").resolve()
    ctx = open_context(settings)
    try:
        declared, ignored = read_versions_dir(versions)
        report = sync_versions(ctx, "ledger", declared, ignored=ignored)
        added = sum(len(v.added) for v in report.versions)
        print(f"Synced {versions}: {len(report.versions)} versions, {added} new actions")
        plan = plan_for(ctx, "ledger", "staging", "1.2.0")
        print("$ shipmate plan --product ledger --env staging --to 1.2.0")
        for line in plan.render_lines("ledger", "staging"):
            print("  " + line)
        if plan.current == "1.2.0":
            print("ledger already runs 1.2.0 in staging: nothing to run (--reset to start over)")
            return
        print("$ shipmate release apply --product ledger --env staging --to 1.2.0")
        result = apply_release(
            ctx,
            ApplyRequest(
                product="ledger",
                environment="staging",
                version="1.2.0",
                actor="demo",
                env={"LEDGER_DB_URL": f"sqlite:///{app_db}"},
                cwd=str(project),
            ),
            on_progress=lambda line: print("  " + line),
        )
        for execution in result.walk.executions:
            if execution.kind == "shell" and execution.output.strip():
                print(f"  ({execution.version} said: {execution.output.strip()})")
        if result.ok:
            print(
                f"ledger is on {result.deployment.full_version} in staging "
                f"({result.deployment.kind}); schema position {result.walk.position}"
            )
        else:
            print(f"the roll-forward failed: {result.walk.failure_message()}")
        _print_app_db(app_db, db)
    finally:
        ctx.close()


def _print_app_db(app_db: Path, db: Path) -> None:
    with sqlite3.connect(app_db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        columns = [r[1] for r in conn.execute("PRAGMA table_info(entries)")]
    print(f"Tables in {app_db.name}: {', '.join(sorted(tables))}; entries: {', '.join(columns)}")
    print("The way back (the downs of 1.2.0 and 1.1.0, nothing else):")
    print(
        f"  SHIPMATE_DATABASE_URL=sqlite:///{db.resolve()} "
        ".venv/bin/shipmate plan --product ledger --env staging --to 1.0.0"
    )
