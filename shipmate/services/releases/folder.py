"""A versions folder: its layout, reading it, and its files staying inside it.

::

    versions/
      1.2.0/
        release.toml          # optional: predecessor = "1.1.0", database_ref = "APP_DB_URL"
        up/010-create-orders.sql
        up/020-warm-cache.sh
        down/010-drop-orders.sql

Each folder whose name is a version declares that version
(:func:`read_versions_dir`).  Files in ``up/`` and ``down/`` sorted by name give the
order (10, 20, 30, ...); ``*.sql`` files are SQL actions on ``database_ref`` (from
``release.toml``, else the sync's default), ``*.sh`` files shell actions (the
script's text is stored; a ``#!`` line is honoured).  Other files, hidden files and
sub-folders are listed as ignored.  The action's name is
``<folder>/<version>/<phase>/<file>``.  ``shipmate release sync`` stores what it
read with :func:`~shipmate.services.releases.sync.sync_versions`.

Symlinks: a symlink in the folder may point elsewhere inside it (a shared script);
one whose real location is outside the folder, such as ``2.0.0/up/001.sh ->
/etc/shadow`` or ``2.0.0 -> ../../other``, would turn a file nobody reviewed into an
action body (or leak it through the API), so the whole sync is refused
(:func:`require_inside`), before anything is written, with the entry named.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from shipmate.domain.releases.planning import ReleaseAction
from shipmate.domain.versions import validate_version
from shipmate.errors import InvalidInputError
from shipmate.services.releases.actions import check_action
from shipmate.services.releases.sync import DeclaredVersion

__all__ = ["read_versions_dir", "require_inside"]

_RELEASE_TOML_KEYS = ("predecessor", "database_ref")


def require_inside(real_root: Path, path: Path, shown: str) -> Path:
    """``path`` when its real location (every symlink followed) is inside
    ``real_root`` (already resolved); InvalidInputError naming ``shown`` otherwise."""
    try:
        real = path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise InvalidInputError(f"{shown} cannot be resolved: {exc}", field="dir") from None
    if real != real_root and not real.is_relative_to(real_root):
        raise InvalidInputError(
            f"{shown} is a symlink to {str(real)!r}, outside the versions folder; "
            "only files inside the folder are read",
            field="dir",
        )
    return path


def read_versions_dir(
    path: str | Path, *, database_ref: str | None = None
) -> tuple[list[DeclaredVersion], list[str]]:
    """Read a versions folder (layout in the module doc); also returns what was ignored.

    ``database_ref`` is the default for SQL files of versions whose ``release.toml``
    names none.  Errors name the file (``field`` is ``dir``, ``release.toml`` keys or
    ``database_ref``).
    """
    root = Path(path)
    if not root.is_dir():
        raise InvalidInputError(f"the versions folder {str(path)!r} does not exist", field="dir")
    label = root.name or str(root)
    real = root.resolve()
    declared: list[DeclaredVersion] = []
    ignored: list[str] = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        require_inside(real, entry, f"{label}/{entry.name}")
        if not entry.is_dir():
            ignored.append(f"{label}/{entry.name}")
            continue
        try:
            version = validate_version(entry.name, field="dir")
        except InvalidInputError:
            ignored.append(f"{label}/{entry.name}/")
            continue
        if version != entry.name:
            ignored.append(f"{label}/{entry.name}/")
            continue
        toml = f"{label}/{entry.name}/release.toml"
        meta = _read_release_toml(require_inside(real, entry / "release.toml", toml), toml)
        predecessor = meta.get("predecessor")
        ref = meta.get("database_ref", database_ref)
        actions: list[ReleaseAction] = []
        for child in sorted(entry.iterdir(), key=lambda p: p.name):
            if child.name.startswith(".") or child.name == "release.toml":
                continue
            require_inside(real, child, f"{label}/{entry.name}/{child.name}")
            if child.name not in ("up", "down") or not child.is_dir():
                ignored.append(f"{label}/{entry.name}/{child.name}")
                continue
            files = [f for f in sorted(child.iterdir(), key=lambda p: p.name)]
            order = 0
            for file in files:
                shown = f"{label}/{entry.name}/{child.name}/{file.name}"
                if not file.name.startswith("."):
                    require_inside(real, file, shown)
                if file.name.startswith(".") or not file.is_file():
                    if not file.name.startswith("."):
                        ignored.append(shown + "/")
                    continue
                if file.suffix not in (".sql", ".sh"):
                    ignored.append(shown)
                    continue
                try:
                    body = file.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    raise InvalidInputError(f"{shown} cannot be read: {exc}", field="dir") from None
                if not body.strip():
                    raise InvalidInputError(f"{shown} is empty", field="dir")
                kind = "sql" if file.suffix == ".sql" else "shell"
                if kind == "sql" and not ref:
                    raise InvalidInputError(
                        f"{shown} is SQL but no database_ref is set: add database_ref = "
                        f'"APP_DB_URL" to {label}/{entry.name}/release.toml or pass '
                        "--database-ref (the name of the variable holding the URL)",
                        field="database_ref",
                    )
                order += 10
                try:
                    action = ReleaseAction.create(
                        version=version,
                        phase=child.name,
                        order=order,
                        kind=kind,
                        name=shown,
                        body=body,
                        database_ref=ref if kind == "sql" else None,
                    )
                except InvalidInputError as exc:
                    raise InvalidInputError(f"{shown}: {exc.message}", field=exc.field) from None
                check_action(action)
                actions.append(action)
        declared.append(DeclaredVersion(version, predecessor, tuple(actions)))
    return declared, ignored


def _read_release_toml(path: Path, shown: str) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInputError(f"{shown} cannot be read: {exc}", field="release.toml") from None
    unknown = sorted(set(data) - set(_RELEASE_TOML_KEYS))
    if unknown:
        raise InvalidInputError(
            f"{shown} has unknown key {unknown[0]!r} (known: {', '.join(_RELEASE_TOML_KEYS)})",
            field=f"release.toml.{unknown[0]}",
        )
    result: dict[str, str] = {}
    if "predecessor" in data:
        result["predecessor"] = validate_version(
            data["predecessor"], field="release.toml.predecessor"
        )
    if "database_ref" in data:
        ref = data["database_ref"]
        if not isinstance(ref, str) or not ref.strip():
            raise InvalidInputError(
                f"{shown}: database_ref must name an environment variable",
                field="release.toml.database_ref",
            )
        result["database_ref"] = ref.strip()
    return result
