"""The four versions of the product ``api`` most releases tests walk through.

Each version ``V`` (``1.0.0`` ... ``1.3.0``) has:

* ``up``: ``V/up/010-create.sql`` creates table ``t_V`` (dots as underscores),
  then ``V/up/020-log.sh`` appends a line with the flags to ``$ACTION_LOG``;
* ``down``: ``V/down/010-log.sh`` appends a line, ``V/down/020-drop.sql`` drops
  ``t_V``.  Downs run in descending order: the drop first, then the log line.

A log line reads ``1.2.0 up first=0 last=1 rf=1 rb=0 same=0 from=1.1.0 to=1.2.0``.
"""

from __future__ import annotations

from pathlib import Path

from shipmate.services.context import Context
from shipmate.services.releases.actions import ActionSpec, add_action

VERSIONS = ("1.0.0", "1.1.0", "1.2.0", "1.3.0")

LOG_SCRIPT = (
    'echo "$SHIPMATE_VERSION $SHIPMATE_PHASE first=$SHIPMATE_DEP_FIRST '
    "last=$SHIPMATE_DEP_LAST rf=$SHIPMATE_DEP_ROLLFORWARD rb=$SHIPMATE_DEP_ROLLBACK "
    'same=$SHIPMATE_DEP_SAME from=$SHIPMATE_FROM_VERSION to=$SHIPMATE_TO_VERSION" '
    '>> "$ACTION_LOG"; echo "logged $SHIPMATE_VERSION $SHIPMATE_PHASE"'
)


def table(version: str) -> str:
    return "t_" + version.replace(".", "_")


def up_sql(version: str) -> str:
    return f"CREATE TABLE {table(version)} (id INTEGER PRIMARY KEY, note TEXT);"


def down_sql(version: str) -> str:
    return f"DROP TABLE {table(version)};"


def add_versions(ctx: Context, versions: tuple[str, ...] = VERSIONS) -> None:
    """Register the actions of ``versions`` through the service (as the CLI does)."""
    for v in versions:
        add_action(
            ctx,
            "api",
            ActionSpec(v, "up", "sql", up_sql(v), f"{v}/up/010-create.sql", 10, "APP_DB_URL"),
        )
        add_action(ctx, "api", ActionSpec(v, "up", "shell", LOG_SCRIPT, f"{v}/up/020-log.sh", 20))
        add_action(
            ctx, "api", ActionSpec(v, "down", "shell", LOG_SCRIPT, f"{v}/down/010-log.sh", 10)
        )
        add_action(
            ctx,
            "api",
            ActionSpec(v, "down", "sql", down_sql(v), f"{v}/down/020-drop.sql", 20, "APP_DB_URL"),
        )


def write_versions_dir(root: Path, versions: tuple[str, ...] = VERSIONS) -> Path:
    """The same actions as a versions folder (names ``versions/<v>/<phase>/<file>``)."""
    folder = root / "versions"
    for v in versions:
        (folder / v / "up").mkdir(parents=True, exist_ok=True)
        (folder / v / "down").mkdir(parents=True, exist_ok=True)
        (folder / v / "release.toml").write_text('database_ref = "APP_DB_URL"\n')
        (folder / v / "up" / "010-create.sql").write_text(up_sql(v) + "\n")
        (folder / v / "up" / "020-log.sh").write_text(LOG_SCRIPT + "\n")
        (folder / v / "down" / "010-log.sh").write_text(LOG_SCRIPT + "\n")
        (folder / v / "down" / "020-drop.sql").write_text(down_sql(v) + "\n")
    return folder


def log_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return path.read_text().splitlines()
